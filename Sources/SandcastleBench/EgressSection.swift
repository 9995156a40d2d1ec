import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension BenchReport {
    /// Egress through the daemon's proxy, side by side with a direct connection to the same
    /// server of the bench's own (``EgressBenchWorld``), in the same run:
    /// - the time to first byte of an HTTPS request, measured by curl itself
    ///   (`time_starttransfer`): directly, and from inside a session's network namespace through
    ///   its forwarder (127.0.0.1:3128), the session's socket and the proxy (CONNECT, TLS inside);
    /// - a download through the tunnel (curl `-p`, CONNECT) and directly, bytes per second, and
    ///   through the world's two references that only splice: a chain of two relays (the floor
    ///   any design with two relays, the forwarder and the daemon, starts from on this machine)
    ///   and one relay (the floor of any proxy at all);
    /// - many tunnels held open at once across many sessions (CONNECT on each session's socket,
    ///   then a request on every tunnel while all are open): errors, and the daemon's VmRSS
    ///   before, with them open and after.
    /// CPU is the daemon process's user+system time.
    public struct Egress: Sendable, Codable, Equatable {
        public var ttfbDirect: LatencySummary
        public var ttfbTunnel: LatencySummary
        /// sandcastled's CPU per tunnelled HTTPS request, microseconds.
        public var daemonCPUMicrosecondsPerRequest: Double?
        public var downloadBytes: Int
        /// Medians over the rounds.
        public var directBytesPerSecond: Double
        public var tunnelBytesPerSecond: Double
        /// Through two relays that only splice (``EgressBenchWorld/relayPort``); nil in reports
        /// from before it was measured.
        public var relayChainBytesPerSecond: Double?
        /// Through one relay that only splices (``EgressBenchWorld/singleRelayPort``); nil in
        /// reports from before it was measured.
        public var singleRelayBytesPerSecond: Double?
        /// sandcastled's CPU per MiB carried through the tunnel, microseconds.
        public var daemonCPUMicrosecondsPerMiB: Double?
        public var concurrentSessions: Int
        public var concurrentTunnels: Int
        /// Tunnels that were refused, or whose request got no complete answer.
        public var concurrentErrors: Int
        /// From the first CONNECT to the last answer, seconds.
        public var concurrentSeconds: Double
        public var daemonCPUMicrosecondsPerTunnel: Double?
        public var rssBeforeBytes: Int?
        public var rssWithTunnelsBytes: Int?
        public var rssAfterBytes: Int?

        /// What the tunnel adds to the time to first byte, at p50, microseconds.
        public var addedTTFBP50: Double { ttfbTunnel.p50 - ttfbDirect.p50 }
        public var throughputRatio: Double { tunnelBytesPerSecond / directBytesPerSecond }

        func tableLines(_ row: (String, LatencySummary, Double, String) -> Void) -> [String] {
            row("egress TTFB https, direct", ttfbDirect, 1000, "ms")
            row("egress TTFB https, tunnel", ttfbTunnel, 1000, "ms")
            var lines = [
                String(
                    format: "egress download, %d MiB: tunnel %.1f MB/s, direct %.1f MB/s", downloadBytes >> 20,
                    tunnelBytesPerSecond / 1e6, directBytesPerSecond / 1e6)
                    + (relayChainBytesPerSecond.map {
                        String(format: ", two splicing relays %.1f MB/s (%.2fx direct)", $0 / 1e6, $0 / directBytesPerSecond)
                    } ?? "")
                    + (singleRelayBytesPerSecond.map {
                        String(format: ", one splicing relay %.1f MB/s (%.2fx direct)", $0 / 1e6, $0 / directBytesPerSecond)
                    } ?? ""),
                String(
                    format: "egress: %d tunnels open at once from %d sessions, %d errors, %.2f s", concurrentTunnels,
                    concurrentSessions, concurrentErrors, concurrentSeconds),
            ]
            if let before = rssBeforeBytes, let with = rssWithTunnelsBytes, let after = rssAfterBytes {
                lines.append(
                    String(
                        format: "egress: daemon VmRSS %.1f MB before, %.1f MB with the tunnels (+%.1f MB), %.1f MB after",
                        Double(before) / 1e6, Double(with) / 1e6, Double(with - before) / 1e6, Double(after) / 1e6))
            }
            return lines
        }
    }
}

extension Targets {
    /// Added time to first byte at p50 at most 1 ms; tunnel throughput at least 0.9x direct; no
    /// error with every tunnel open at once.
    func egressVerdicts(_ egress: BenchReport.Egress?) -> [BenchReport.Verdict] {
        guard let egress else { return [] }
        let added = egress.addedTTFBP50 / 1000
        let cpu = { (value: Double?, unit: String) in value.map { String(format: "; daemon CPU %.0f us per %@", $0, unit) } ?? "" }
        return [
            .init(
                target: "egress.added_ttfb_p50", status: added <= 1 ? .pass : .fail, measured: added, limit: 1, unit: "ms",
                detail: String(format: "p50 %.2f ms vs direct %.2f ms", egress.ttfbTunnel.p50 / 1000, egress.ttfbDirect.p50 / 1000)
                    + cpu(egress.daemonCPUMicrosecondsPerRequest, "request")),
            .init(
                target: "egress.throughput", status: egress.throughputRatio >= 0.9 ? .pass : .fail, measured: egress.throughputRatio,
                limit: 0.9, unit: "x direct",
                detail: String(
                    format: "%.1f MB/s vs direct %.1f MB/s", egress.tunnelBytesPerSecond / 1e6, egress.directBytesPerSecond / 1e6)
                    + (egress.singleRelayBytesPerSecond.map {
                        String(format: "; one splicing relay %.2fx direct", $0 / egress.directBytesPerSecond)
                    } ?? "")
                    + (egress.relayChainBytesPerSecond.map {
                        String(format: "; two splicing relays %.2fx direct, the tunnel %.2fx of them", $0 / egress.directBytesPerSecond,
                               egress.tunnelBytesPerSecond / $0)
                    } ?? "") + cpu(egress.daemonCPUMicrosecondsPerMiB, "MiB")),
            .init(
                target: "egress.concurrent", status: egress.concurrentErrors == 0 ? .pass : .fail,
                measured: Double(egress.concurrentErrors), limit: 0, unit: "errors",
                detail: "\(egress.concurrentTunnels) tunnels from \(egress.concurrentSessions) sessions"
                    + (egress.rssBeforeBytes.flatMap { before in
                        egress.rssWithTunnelsBytes.map { String(format: "; daemon VmRSS +%.1f MB", Double($0 - before) / 1e6) }
                    } ?? "") + cpu(egress.daemonCPUMicrosecondsPerTunnel, "tunnel")),
        ]
    }
}

extension Benchmark {
    func egress() async throws -> BenchReport.Egress {
        guard let world = egressWorld else {
            throw BenchError.usage("the egress section needs the daemon the bench starts (it configures its egress)")
        }
        let sessionCount = max(1, options.egressSessions)
        var sessions: [String] = []
        do {
            // Sequential: cold launches, the daemon's usual path for a session with egress.
            for _ in 0..<sessionCount {
                sessions.append(
                    try await api.createSession(
                        id: nextName("egress"), image: options.image, profile: EgressBenchWorld.profile,
                        workspace: nextName("egress"), command: BenchOptions.idleCommand))
            }
            let namespace = "/proc/\(try await containerPID(sessions[0]))/ns/net"
            let latency = try await egressTTFB(world, namespace: namespace)
            let download = try await egressDownload(world, namespace: namespace)
            let concurrent = try await egressConcurrent(world, sessions: sessions)
            for session in sessions { try? await api.removeSession(session) }
            return BenchReport.Egress(
                ttfbDirect: latency.direct, ttfbTunnel: latency.tunnel, daemonCPUMicrosecondsPerRequest: latency.cpu,
                downloadBytes: options.egressDownloadBytes, directBytesPerSecond: download.direct,
                tunnelBytesPerSecond: download.tunnel, relayChainBytesPerSecond: download.relays,
                singleRelayBytesPerSecond: download.single,
                daemonCPUMicrosecondsPerMiB: download.cpu,
                concurrentSessions: sessionCount, concurrentTunnels: concurrent.tunnels, concurrentErrors: concurrent.errors,
                concurrentSeconds: concurrent.seconds, daemonCPUMicrosecondsPerTunnel: concurrent.cpu,
                rssBeforeBytes: concurrent.rss.before, rssWithTunnelsBytes: concurrent.rss.with, rssAfterBytes: concurrent.rss.after)
        } catch {
            for session in sessions { try? await api.removeSession(session) }
            throw error
        }
    }

    /// The host pid of the session's container (to enter its network namespace).
    func containerPID(_ session: String) async throws -> Int {
        let shown = try await api.expect([200], "GET", "/v1/sessions/\(session)")
        guard let container = shown.object?["containerId"] as? String else {
            throw BenchError.daemon("session \(session) has no container: \(shown.text.prefix(300))")
        }
        guard let pid = try await raw.client.inspectContainer(container).state.pid, pid > 0 else {
            throw BenchError.daemon("the container of session \(session) has no pid")
        }
        return pid
    }

    /// curl's own measurement of `url`: `--write-out` fields, whitespace-separated. Through the
    /// session's forwarder when `namespace` is given (curl runs in that network namespace, where
    /// only the forwarder's 127.0.0.1:3128 leads out), else directly (the name resolved to
    /// 127.0.0.1 by `--resolve`, as the daemon's hosts file does).
    func curl(_ world: EgressBenchWorld, _ url: String, port: Int, writeOut: String, through namespace: String?) async throws -> [Double] {
        var arguments = ["curl", "-sS", "-o", "/dev/null", "--cacert", world.certificate, "-w", writeOut]
        if namespace != nil {
            arguments += ["-p", "-x", "http://127.0.0.1:3128"]
        } else {
            arguments += ["--resolve", "\(EgressBenchWorld.host):\(port):127.0.0.1"]
        }
        arguments.append(url)
        let command = (namespace.map { ["nsenter", "--net=\($0)"] } ?? []) + arguments
        let result = try await EgressBenchWorld.runTool(command[0], Array(command.dropFirst()))
        let values = result.output.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        guard result.status == 0, !values.isEmpty else {
            throw BenchError.daemon("curl \(url)\(namespace == nil ? "" : " through the tunnel") failed (exit \(result.status)): \(result.output.prefix(500))")
        }
        return values
    }

    /// Interleaved HTTPS requests, direct and through the tunnel: curl's time to first byte.
    func egressTTFB(_ world: EgressBenchWorld, namespace: String) async throws -> (
        direct: LatencySummary, tunnel: LatencySummary, cpu: Double?
    ) {
        let url = "https://\(EgressBenchWorld.host):\(world.httpsPort)/"
        let samples = options.egressSamples
        var direct: [Double] = []
        var tunnel: [Double] = []
        var cpu = CPUMeter(daemonPID: target.pid)
        for index in 0..<(samples + min(20, samples)) {
            let measured = index >= min(20, samples)
            let first = try await curl(world, url, port: world.httpsPort, writeOut: "%{time_starttransfer}", through: nil)[0]
            let tunnelled = { try await curl(world, url, port: world.httpsPort, writeOut: "%{time_starttransfer}", through: namespace)[0] }
            let second = measured ? try await cpu.measure(tunnelled) : try await tunnelled()
            if measured {
                direct.append(first * 1e6)
                tunnel.append(second * 1e6)
            }
        }
        guard let directSummary = LatencySummary(microseconds: direct), let tunnelSummary = LatencySummary(microseconds: tunnel) else {
            throw BenchError.usage("no samples for egress: raise --egress-samples")
        }
        return (directSummary, tunnelSummary, cpu.perOperation?.daemonMicroseconds)
    }

    /// Downloads of `egressDownloadBytes` over plain HTTP (the tunnel is a CONNECT either way),
    /// interleaved rounds of direct, tunnel and the reference relays: median bytes per second
    /// each way, daemon CPU per MiB tunnelled.
    func egressDownload(_ world: EgressBenchWorld, namespace: String) async throws -> (
        direct: Double, tunnel: Double, relays: Double, single: Double, cpu: Double?
    ) {
        let bytes = options.egressDownloadBytes
        let path = "/bytes/\(bytes)"
        let url = "http://\(EgressBenchWorld.host):\(world.httpPort)" + path
        let writeOut = "%{size_download} %{speed_download}"
        var direct: [Double] = []
        var tunnel: [Double] = []
        var relays: [Double] = []
        var single: [Double] = []
        var cpu = CPUMeter(daemonPID: target.pid)
        let rounds = 3
        func speed(_ values: [Double]) throws -> Double {
            guard values.count == 2, Int(values[0]) == bytes else {
                throw BenchError.daemon("a download of \(bytes) bytes got \(values.first.map { Int($0) } ?? 0)")
            }
            return values[1]
        }
        for _ in 0..<rounds {
            direct.append(try speed(try await curl(world, url, port: world.httpPort, writeOut: writeOut, through: nil)))
            tunnel.append(
                try speed(
                    try await cpu.measure {
                        try await curl(world, url, port: world.httpPort, writeOut: writeOut, through: namespace)
                    }))
            func reference(_ port: Int) async throws -> Double {
                try speed(try await curl(world, "http://\(EgressBenchWorld.host):\(port)" + path, port: port, writeOut: writeOut, through: nil))
            }
            relays.append(try await reference(world.relayPort))
            single.append(try await reference(world.singleRelayPort))
        }
        let mebibytes = Double(bytes * rounds) / Double(1 << 20)
        return (
            Self.median(direct), Self.median(tunnel), Self.median(relays), Self.median(single),
            target.pid == nil ? nil : cpu.daemonMicroseconds / mebibytes
        )
    }

    /// `egressTunnels` tunnels spread over the sessions' sockets, all open at once, each then
    /// carrying one request: errors, wall time, the daemon's VmRSS around it.
    func egressConcurrent(_ world: EgressBenchWorld, sessions: [String]) async throws -> (
        tunnels: Int, errors: Int, seconds: Double, cpu: Double?, rss: (before: Int?, with: Int?, after: Int?)
    ) {
        let count = options.egressTunnels
        let sockets = (0..<count).map { world.egressDirectory + "/" + sessions[$0 % sessions.count] + "/proxy.sock" }
        let pid = target.pid
        let rss: @Sendable () -> Int? = { pid.flatMap { try? ResidentMemory.bytes(pid: $0) } }
        let before = rss()
        var meter = CPUMeter(daemonPID: pid)
        let start = ContinuousClock.now
        let (errors, with) = await meter.measure(count: count) {
            await TunnelBurst.run(
                sockets: sockets, authority: "\(EgressBenchWorld.host):\(world.httpPort)", responseBytes: 64 << 10, whileOpen: rss)
        }
        let seconds = (ContinuousClock.now - start).microseconds / 1e6
        let cpu = meter.perOperation?.daemonMicroseconds
        try await Task.sleep(for: .milliseconds(500))
        return (count, errors, seconds, cpu, (before, with, rss()))
    }
}

/// Many tunnels through the proxy's unix sockets, with blocking sockets on a thread of its own.
enum TunnelBurst {
    /// Opens one tunnel per socket path (CONNECT `authority`), then sends a request for
    /// `responseBytes` on each while all are open, reads every answer, calls `whileOpen` and
    /// closes them. Returns the errors and what `whileOpen` returned.
    static func run<T: Sendable>(
        sockets: [String], authority: String, responseBytes: Int, whileOpen: @escaping @Sendable () -> T
    ) async -> (errors: Int, value: T) {
        await withCheckedContinuation { continuation in
            Thread {
                var descriptors: [Int32] = []
                var errors = 0
                for path in sockets {
                    let fd = connectUnix(path)
                    if fd >= 0, send(fd, "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n\r\n"),
                        let head = readHead(fd), head.hasPrefix("HTTP/1.1 200")
                    {
                        descriptors.append(fd)
                    } else {
                        errors += 1
                        if fd >= 0 { close(fd) }
                    }
                }
                for fd in descriptors where !send(fd, "GET /bytes/\(responseBytes) HTTP/1.1\r\nHost: \(authority)\r\n\r\n") {
                    errors += 1
                }
                for fd in descriptors {
                    guard let head = readHead(fd), head.hasPrefix("HTTP/1.0 200") || head.hasPrefix("HTTP/1.1 200"),
                        drain(fd, bytes: responseBytes - head.bodyPrefix)
                    else {
                        errors += 1
                        continue
                    }
                }
                let value = whileOpen()
                for fd in descriptors { close(fd) }
                continuation.resume(returning: (errors, value))
            }.start()
        }
    }

    static func connectUnix(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            return -1
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// A response head read byte by byte up to the blank line (so nothing of the body is
    /// consumed but what `bodyPrefix` counts: none).
    struct Head {
        var text: String
        var bodyPrefix = 0
        func hasPrefix(_ prefix: String) -> Bool { text.hasPrefix(prefix) }
    }

    static func readHead(_ fd: Int32) -> Head? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 16 << 10 {
            let n = read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            guard n == 1 else { return nil }
            bytes.append(byte)
            if bytes.count >= 4, bytes.suffix(4) == [13, 10, 13, 10] { return Head(text: String(decoding: bytes, as: UTF8.self)) }
        }
        return nil
    }

    static func drain(_ fd: Int32, bytes: Int) -> Bool {
        var left = bytes
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while left > 0 {
            let n = read(fd, &buffer, min(left, buffer.count))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            left -= n
        }
        return true
    }
}
