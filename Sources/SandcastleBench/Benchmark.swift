import DockerEngine
import Foundation
import Logging
import NIOCore
import SandboxPolicy
import SandcastleClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One run of the benchmark: the daemon (over its API and terminal WebSocket) beside the raw
/// engine (the same container configuration, a hijacked attach), section by section.
///
/// Every timing uses `ContinuousClock` (monotonic). Blocking work (the daemon's process, file
/// reads of `/proc`) is tiny and happens between measurements; the engine client does its
/// blocking libcurl calls on its own thread.
public struct Benchmark: Sendable {
    /// The daemon under test.
    public struct Target: Sendable {
        public var api: DaemonAPI
        /// For the idle section's memory reading; nil when the daemon is not on this host.
        public var pid: Int32?
        /// The daemon's workspace root, when on this host: the files section runs `tar -c` there.
        public var workspaceRoot: String?

        public init(api: DaemonAPI, pid: Int32?, workspaceRoot: String? = nil) {
            self.api = api
            self.pid = pid
            self.workspaceRoot = workspaceRoot
        }
    }

    public let options: BenchOptions
    public let target: Target
    public let raw: RawEngine
    /// Sizes the daemon's warm pool; nil when the daemon has none (the warm section then fails).
    public let pool: (any PoolControl)?
    /// The egress section's servers and profile, which the started daemon was configured for.
    public var egressWorld: EgressBenchWorld?
    let logger: Logger
    let runID: String

    public init(options: BenchOptions, target: Target, raw: RawEngine, pool: (any PoolControl)?, runID: String, logger: Logger) {
        self.options = options
        self.target = target
        self.raw = raw
        self.pool = pool
        self.runID = runID
        self.logger = logger
    }

    var api: DaemonAPI { target.api }

    /// Runs the chosen sections and returns the report (verdicts included).
    public func run(environment: BenchReport.Environment) async throws -> BenchReport {
        var report = BenchReport()
        report.environments = [environment]
        defer { logger.info("run finished") }
        for section in BenchOptions.Section.allCases where options.sections.contains(section) {
            await settle()
            logger.notice("section \(section.rawValue)")
            switch section {
            case .idle: report.idle = try await idle()
            case .http: report.http = try await http()
            case .terminal: report.terminal = try await terminalConnections()
            case .screen: report.screen = ScreenBench.measure()
            case .cold: report.cold = try await cold()
            case .echo: report.echo = try await echo()
            case .throughput:
                let measured = try await throughput()
                if options.screens { report.throughput = measured } else { report.throughputWithoutScreens = measured }
            case .warm:
                // What idleness costs any process here, for reading the CPU of a launch alone.
                report.quietPenalty = await BenchReport.QuietPenalty.measure { await settle() }
                report.warm = try await warm()
            case .files: report.files = try await files()
            case .exec: report.exec = try await exec()
            case .egress: report.egress = try await egress()
            }
        }
        await raw.sweep()
        report.verdicts = Targets().evaluate(report)
        return report
    }

    /// Waits (up to 30 s) until the machine is quiet: what a section leaves behind (the engine
    /// removing the idle section's 500 containers, the daemon following their events) must not
    /// be measured as the next section's cost. Quiet: under a fifth of one core busy over 500 ms.
    func settle() async {
        let cores = Double(max(1, ProcessInfo.processInfo.activeProcessorCount))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard let before = ProcessCPU.machineMicroseconds() else { return }
            try? await Task.sleep(for: .milliseconds(500))
            guard let after = ProcessCPU.machineMicroseconds() else { return }
            let busy = (after - before) / 500_000 / cores
            if busy < 0.2 / cores { return }
        }
        logger.warning("the machine did not quiet down within 30 s; measuring anyway")
    }

    // MARK: - Launches

    private let sequence = Counter()

    func nextName(_ kind: String) -> String {
        "bench-\(runID)-\(kind)-\(sequence.next())"
    }

    /// Creates a session with its attach token, opens its terminal and waits for `hello`; returns
    /// the session id and the time from the create request to the hello frame.
    func launchToHello(
        kind: String, command: [String], on connection: SandcastleClient.Connection? = nil
    ) async throws -> (id: String, elapsed: Duration) {
        let name = nextName(kind)
        let clock = ContinuousClock()
        let start = clock.now
        // As a web tier does: the session and its token in one request, the terminal (the
        // browser's) on a connection of its own.
        let (id, token) = try await step("creating session \(name) and its token") {
            try await api.createSessionAndToken(
                id: name, image: options.image, profile: options.profile, workspace: name, command: command, on: connection)
        }
        try await step("opening the terminal of \(id)") {
            try await WebSocketTerminal.with(host: api.host, port: api.port, session: id, token: token) { terminal in
                _ = try await terminal.hello()
            }
        }
        return (id, clock.now - start)
    }

    func cold() async throws -> BenchReport.Cold {
        var daemon: [Duration] = []
        var engine: [Duration] = []
        var calls: [Duration] = []
        var cpu = CPUMeter(daemonPID: target.pid, splitsRest: true)
        var rawCPU = CPUMeter(daemonPID: nil, profiled: false, splitsRest: true)
        var callsCPU = CPUMeter(daemonPID: nil, profiled: false, splitsRest: true)
        for index in 0..<options.coldSamples {
            // Interleaved, so that a drift of the engine or the machine touches all three alike;
            // each after the last removal has settled.
            await settle()
            let launched = try await cpu.measure { try await launchToHello(kind: "cold", command: BenchOptions.idleCommand) }
            daemon.append(launched.elapsed)
            try await api.removeSession(launched.id)
            await settle()
            let rawLaunch = try await rawCPU.measure {
                try await raw.createAndStart(command: BenchOptions.idleCommand, name: nextName("raw"))
            }
            engine.append(rawLaunch.elapsed)
            await raw.remove(rawLaunch.id)
            await settle()
            let direct = try await callsCPU.measure {
                try await raw.createCheckAttachStart(command: BenchOptions.idleCommand, name: nextName("calls"))
            }
            calls.append(direct.elapsed)
            await raw.remove(direct.id)
            logger.info(
                "cold launch",
                metadata: [
                    "sample": "\(index + 1)/\(options.coldSamples)", "daemon.ms": "\(launched.elapsed.microseconds / 1000)",
                    "raw.ms": "\(rawLaunch.elapsed.microseconds / 1000)", "calls.ms": "\(direct.elapsed.microseconds / 1000)",
                ])
        }
        return .init(
            daemon: try summary(daemon, "cold"), raw: try summary(engine, "raw create+start"), cpu: cpu.perOperation,
            rawCPU: rawCPU.perOperation, calls: try summary(calls, "raw create, inspect, attach, start"),
            callsCPU: callsCPU.perOperation)
    }

    func warm() async throws -> [BenchReport.WarmBurst] {
        guard let pool else {
            throw BenchError.usage("the warm section needs the daemon's warm pool (admin pool routes); this daemon has none")
        }
        try await warmUp(pool)
        var bursts: [BenchReport.WarmBurst] = []
        for burst in options.warmBursts {
            let rounds = max(1, (options.warmSamples + burst - 1) / burst)
            var samples: [Duration] = []
            var fallbacks = 0
            // Where the bursts' cost outside the daemon and the client goes: the command each
            // launch starts in its container, or the engine.
            var cpu = CPUMeter(daemonPID: target.pid, splitsRest: true)
            var refill = CPUMeter(daemonPID: target.pid, profiled: false, splitsRest: true)
            for round in 0..<rounds {
                try await refill.measure(count: burst) {
                    try await pool.resize(profile: options.profile, image: options.image, size: burst)
                    try await pool.waitUntilReady(profile: options.profile, image: options.image, slots: burst, timeout: .seconds(120))
                }
                let before = try await pool.coldFallbacks()
                // The slots' own start (the engine's events, the gate) is not the burst's cost.
                await settle()
                let daemonBefore = cpu.daemonMicroseconds
                let launched = try await warmBurst(burst, cpu: &cpu)
                let after = try await pool.coldFallbacks()
                if let after { fallbacks += after - (before ?? 0) }
                samples += launched.map(\.1)
                logger.info(
                    "warm burst",
                    metadata: [
                        "burst": "\(burst)", "round": "\(round + 1)/\(rounds)",
                        "p50.ms": "\((LatencySummary(launched.map(\.1))?.p50 ?? 0) / 1000)",
                        "daemon.cpu.ms": "\((cpu.daemonMicroseconds - daemonBefore) / 1000)",
                    ])
                // Emptied before the next round refills it: only what a claim costs is measured.
                try await pool.resize(profile: options.profile, image: options.image, size: 0)
                try await removeAll(launched.map(\.0))
            }
            bursts.append(
                .init(
                    burst: burst, rounds: rounds, coldFallbacks: fallbacks, launch: try summary(samples, "warm burst \(burst)"),
                    cpu: cpu.perOperation, refill: refill.perOperation))
        }
        return bursts
    }

    /// One warm launch, not measured, before the bursts: the daemon's first claim of a slot and
    /// first terminal upgrade do work it does once (Swift's runtime instantiating the types and
    /// finding the conformances they use, the first page faults), which would otherwise fall into
    /// the first burst's figures. The bursts measure a daemon that has launched before, as a
    /// daemon in service has.
    private func warmUp(_ pool: any PoolControl) async throws {
        try await pool.resize(profile: options.profile, image: options.image, size: 1)
        try await pool.waitUntilReady(profile: options.profile, image: options.image, slots: 1, timeout: .seconds(120))
        var unmeasured = CPUMeter(daemonPID: target.pid, profiled: false)
        let launched = try await warmBurst(1, cpu: &unmeasured)
        try await pool.resize(profile: options.profile, image: options.image, size: 0)
        try await removeAll(launched.map(\.0))
    }

    /// `count` warm launches at once. Each creates its session on a kept-alive connection of its
    /// own, opened before the burst and closed after it, as from a web tier that keeps its
    /// connections to the daemon (the `http` section measures what a new connection adds); its
    /// terminal opens a new connection, as a browser's does. `cpu` covers the launches only.
    func warmBurst(_ count: Int, cpu: inout CPUMeter) async throws -> [(String, Duration)] {
        let client = api.client()
        typealias Launched = Result<(String, Duration), any Error>
        let (connected, connectedIn) = AsyncStream.makeStream(of: Void.self)
        let (launched, launchedIn) = AsyncStream.makeStream(of: Launched.self)
        // Each lane waits on two gates of its own: the burst's start, then the end of the measuring.
        let gates = (0..<count).map { _ in (start: AsyncStream.makeStream(of: Void.self), close: AsyncStream.makeStream(of: Void.self)) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for gate in gates {
                group.addTask {
                    var connecting = true
                    // A lane that cannot connect still reports, so the burst starts and fails.
                    defer { if connecting { connectedIn.yield() } }
                    for attempt in 1...2 {
                        do {
                            try await client.withConnection { connection in
                                connecting = false
                                connectedIn.yield()
                                for await _ in gate.start.stream {}
                                do {
                                    launchedIn.yield(.success(
                                        try await launchToHello(kind: "warm", command: BenchOptions.idleCommand, on: connection)))
                                } catch {
                                    launchedIn.yield(.failure(error))
                                }
                                for await _ in gate.close.stream {}
                            }
                            return
                        } catch where connecting && attempt == 1 {
                            // Refused before any request (a full accept backlog, say): once more.
                        } catch where connecting {
                            launchedIn.yield(.failure(error))
                            return
                        }
                    }
                }
            }
            for await _ in connected.prefix(count) {}
            let results = try await cpu.measure(count: count) {
                for gate in gates { gate.start.continuation.finish() }
                var results: [(String, Duration)] = []
                for await result in launched.prefix(count) { results.append(try result.get()) }
                return results
            }
            for gate in gates { gate.close.continuation.finish() }
            try await group.waitForAll()
            return results
        }
    }

    // MARK: - Terminal

    func throughput() async throws -> BenchReport.Throughput {
        let bytes = options.throughputBytes
        let command = BenchOptions.throughputCommand(bytes: bytes)
        let rawElapsed = try await raw.withAttachedContainer(command: command, name: nextName("raw")) { terminal in
            try await TerminalMeasurements.waitFor("ready", on: &terminal)
            return try await TerminalMeasurements.drain(bytes, after: "\n", on: &terminal)
        }
        logger.info("raw attach throughput", metadata: ["seconds": "\(rawElapsed.microseconds / 1e6)"])
        let daemonElapsed = try await withSession(kind: "tput", command: command) { terminal, _ in
            try await TerminalMeasurements.waitFor("ready", on: &terminal)
            return try await TerminalMeasurements.drain(bytes, after: "\n", on: &terminal)
        }
        logger.info("daemon throughput", metadata: ["seconds": "\(daemonElapsed.microseconds / 1e6)"])
        return .init(
            bytes: bytes, daemonSeconds: daemonElapsed.microseconds / 1e6, rawSeconds: rawElapsed.microseconds / 1e6,
            screens: options.screens)
    }

    func echo() async throws -> BenchReport.Echo {
        let samples = options.echoSamples
        let warmUp = min(50, samples)
        let relay = try await BareRelay.start(to: raw.client.configuration.endpoint)
        defer { relay.stop() }
        let relayed = raw.through(relay.client)
        let raw = self.raw
        let (rawName, relayedName) = (nextName("raw"), nextName("relay"))
        let daemonPID = target.pid
        // The three paths are open at once and take turns, a tenth of the samples each time, so
        // that a change in the machine's pace during the section falls on all three alike. Only
        // the daemon's windows are profiled.
        return try await withSession(kind: "echo", command: BenchOptions.echoCommand) { daemon, _ in
            try await raw.withAttachedContainer(command: BenchOptions.echoCommand, name: rawName) { direct in
                try await relayed.withAttachedContainer(command: BenchOptions.echoCommand, name: relayedName) { through in
                    for link in 0..<3 {
                        _ = try await Self.roundTrips(
                            warmUp, on: link, afterReady: true, daemon: &daemon, direct: &direct, through: &through)
                    }
                    var meters = [
                        CPUMeter(daemonPID: nil, profiled: false), CPUMeter(daemonPID: nil, profiled: false),
                        CPUMeter(daemonPID: daemonPID, profiled: daemonPID != nil),
                    ]
                    var durations: [[Duration]] = [[], [], []]
                    var relaySpent = 0.0
                    let rounds = min(10, samples)
                    for round in 0..<rounds {
                        let count = samples / rounds + (round < samples % rounds ? 1 : 0)
                        for link in 0..<3 {
                            let relayBefore = link == 1 ? relay.cpuMicroseconds() : 0
                            durations[link] += try await meters[link].measure(count: count) {
                                try await Self.roundTrips(count, on: link, daemon: &daemon, direct: &direct, through: &through)
                            }
                            if link == 1 { relaySpent += relay.cpuMicroseconds() - relayBefore }
                        }
                    }
                    return try BenchReport.Echo(
                        daemon: summary(durations[2], "echo"), raw: summary(durations[0], "raw echo"), cpu: meters[2].perOperation,
                        rawCPU: meters[0].perOperation, relay: summary(durations[1], "relayed echo"), relayCPU: meters[1].perOperation,
                        relayMicroseconds: relaySpent / Double(samples))
                }
            }
        }
    }

    /// `samples` round trips on one of the echo section's links (0 the raw attach, 1 the same
    /// through the bare relay, 2 the daemon's WebSocket); first, with `afterReady`, waits for the
    /// echo command's `ready` on it.
    private static func roundTrips(
        _ samples: Int, on link: Int, afterReady: Bool = false, daemon: inout WebSocketTerminal, direct: inout RawTerminal,
        through: inout RawTerminal
    ) async throws -> [Duration] {
        func run(_ terminal: inout some TerminalLink) async throws -> [Duration] {
            if afterReady { try await TerminalMeasurements.waitFor("ready", on: &terminal) }
            return try await TerminalMeasurements.echo(samples: samples, on: &terminal)
        }
        switch link {
        case 0: return try await run(&direct)
        case 1: return try await run(&through)
        default: return try await run(&daemon)
        }
    }

    /// A session ``withSession(kind:command:_:)`` made: its id and its viewers' attach token.
    struct BenchSession: Sendable {
        let id: String
        let token: String
    }

    /// Runs `body` over the terminal of a new session (a read-write viewer that has its `hello`),
    /// then removes the session.
    func withSession<Result: Sendable>(
        kind: String, command: [String],
        _ body: @escaping @Sendable (inout WebSocketTerminal, BenchSession) async throws -> Result
    ) async throws -> Result {
        let id = try await api.createSession(
            id: nextName(kind), image: options.image, profile: options.profile, workspace: nextName(kind), command: command)
        do {
            let token = try await api.mintToken(session: id)
            let result = try await WebSocketTerminal.with(host: api.host, port: api.port, session: id, token: token) { terminal in
                _ = try await terminal.hello()
                return try await body(&terminal, BenchSession(id: id, token: token))
            }
            try await api.removeSession(id)
            return result
        } catch {
            try? await api.removeSession(id)
            throw error
        }
    }

    // MARK: - Idle sessions

    func idle() async throws -> BenchReport.Idle {
        guard let pid = target.pid else {
            throw BenchError.usage("the idle section reads the daemon's VmRSS: give its pid (--daemon-pid) or let the bench start it")
        }
        let count = options.idleSessions
        let baseline = try ResidentMemory.bytes(pid: pid)
        logger.info("idle: creating sessions", metadata: ["sessions": "\(count)", "baseline.rss": "\(baseline)"])
        let ids = try await createSessions(count)
        let release = Release()
        let attached = Counter()
        do {
            let measured = try await withThrowingTaskGroup(of: Void.self) { group -> BenchReport.Idle in
                for id in ids {
                    group.addTask {
                        let token = try await api.mintToken(session: id, ttlSeconds: 300)
                        // Like a browser: each viewer gets a repaint, so each session has its screen.
                        try await WebSocketTerminal.with(
                            host: api.host, port: api.port, session: id, token: token, replayBytes: false
                        ) { terminal in
                            _ = try await terminal.hello()
                            attached.add()
                            await release.wait()
                        }
                    }
                }
                let deadline = ContinuousClock.now + .seconds(120)
                while attached.value < count {
                    if ContinuousClock.now > deadline {
                        throw BenchError.terminal("only \(attached.value) of \(count) viewers got their hello within 120 s")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // Let the daemon settle (hello frames flushed, allocator caches), then read.
                try await Task.sleep(for: .seconds(2))
                let rss = try ResidentMemory.bytes(pid: pid)
                logger.info("idle: all attached", metadata: ["rss": "\(rss)"])
                // What the sessions cost while nothing happens: longer than the reaper's interval
                // and the status line's, each of which reads the sessions once a pass.
                let window = Duration.seconds(11)
                let idle = try await ProcessCPU.spentByThreads(pid: pid) { try await Task.sleep(for: window) }
                let scrapes = try await ProcessCPU.spentByThreads(pid: pid) {
                    try await Self.requests(api.client(authenticated: false), "/metrics", count: Self.idleScrapes, status: 200)
                }
                // The web tier's listing: one page holding every session, each row read from the store.
                // The one window of this section a profiler the bench controls samples.
                let listings = try await ProcessCPU.spentByThreads(pid: pid) {
                    ProfilerControl.send("enable")
                    defer { ProfilerControl.send("disable") }
                    try await Self.requests(
                        api.client(), "/v1/sessions?limit=\(min(count, 1000))", count: Self.idleListings, status: 200)
                }
                release.open()
                try await group.waitForAll()
                return .init(
                    sessions: count, baselineRSSBytes: baseline, rssBytes: rss,
                    idleMicrosecondsPerSecond: idle / Double(window.components.seconds),
                    scrapeMicroseconds: scrapes / Double(Self.idleScrapes),
                    listMicroseconds: listings / Double(Self.idleListings))
            }
            try await removeAll(ids)
            return measured
        } catch {
            release.open()
            try? await removeAll(ids)
            throw error
        }
    }

    /// `GET /metrics` requests the idle section times (each reads the sessions' counts by state).
    static let idleScrapes = 50

    /// Listings of every session (up to a page of 1,000) the idle section times.
    static let idleListings = 10

    /// Creates `count` sessions running ``BenchOptions/idleCommand``, a bounded number at a time.
    func createSessions(_ count: Int) async throws -> [String] {
        try await forEachBounded(Array(0..<count)) { _ in
            let name = nextName("idle")
            return try await api.createSession(
                id: name, image: options.image, profile: options.profile, workspace: name, command: BenchOptions.idleCommand)
        }
    }

    /// Removes sessions, a bounded number at a time.
    func removeAll(_ ids: [String]) async throws {
        _ = try await forEachBounded(ids) { id in try await api.removeSession(id) }
    }

    func forEachBounded<Input: Sendable, Output: Sendable>(
        _ inputs: [Input], _ body: @escaping @Sendable (Input) async throws -> Output
    ) async throws -> [Output] {
        let width = max(1, options.createConcurrency)
        return try await withThrowingTaskGroup(of: Output.self) { group in
            var results: [Output] = []
            var iterator = inputs.makeIterator()
            for _ in 0..<width {
                guard let input = iterator.next() else { break }
                group.addTask { try await body(input) }
            }
            while let result = try await group.next() {
                results.append(result)
                if let input = iterator.next() { group.addTask { try await body(input) } }
            }
            return results
        }
    }

    /// Runs one step of a launch, naming it in the error when it fails.
    func step<Result>(_ what: String, _ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as BenchError {
            throw error
        } catch {
            throw BenchError.daemon("\(what): \(error)")
        }
    }

    func summary(_ durations: [Duration], _ what: String) throws -> LatencySummary {
        guard let summary = LatencySummary(durations) else { throw BenchError.usage("no samples for \(what): raise its sample count") }
        return summary
    }
}

/// A shared counter.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func next() -> Int { count.add(1, ordering: .relaxed).newValue }
    func add() { _ = count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A one-shot gate many tasks wait on.
final class Release: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    var isOpen: Bool { state.withLock { $0.open } }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
