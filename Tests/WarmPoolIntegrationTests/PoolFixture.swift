import DockerEngine
import Foundation
import Logging
import NIOCore
import SandboxPolicy
import SandcastleTestSupport
import SessionStore
import Sessions
import Synchronization

/// A session manager with a warm pool on the engine at `DOCKER_HOST`, with the real
/// `LinuxSlotMounter`: only ever used inside Docker-in-Docker (see `PoolInside`).
struct PoolFixture: Sendable {
    let base: ManagerFixture
    let pool: WarmPool
    let metrics: RecordingPoolMetrics
    let outputs: ClaimedOutputs

    var manager: SessionManager { base.manager }
    var root: String { base.directory + "/pool" }

    static func make(targets: [PoolTarget]) async throws -> PoolFixture {
        let metrics = RecordingPoolMetrics()
        let outputs = ClaimedOutputs()
        let base = try await ManagerFixture.make(
            pool: .init(gate: try GateBinary.path(), targets: targets, mounter: LinuxSlotMounter(), metrics: metrics),
            terminals: outputs)
        guard let pool = base.pool else { throw FixtureError(description: "the fixture was made without its pool") }
        return PoolFixture(base: base, pool: pool, metrics: metrics, outputs: outputs)
    }

    static func target(size: Int, refillPerMinute: Int = 6000) -> PoolTarget {
        PoolTarget(profile: "default", image: ManagerFixture.image, size: size, refillPerMinute: refillPerMinute)
    }

    /// Runs `body` with a fixture and the pool's refill loop, tearing both down afterwards.
    static func with<T: Sendable>(targets: [PoolTarget], _ body: @escaping @Sendable (PoolFixture) async throws -> T) async throws -> T {
        let fixture = try await make(targets: targets)
        let result: Result<T, any Error>
        do {
            result = .success(
                try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask {
                        try? await fixture.pool.run()
                        return nil
                    }
                    group.addTask { try await body(fixture) }
                    var value: T?
                    while let next = try await group.next() {
                        if let next {
                            value = next
                            group.cancelAll()
                        }
                    }
                    guard let value else { throw FixtureError(description: "the test body returned nothing") }
                    return value
                })
        } catch {
            result = .failure(error)
        }
        await fixture.tearDown()
        return try result.get()
    }

    func waitForReady(_ count: Int, profile: String = "default") async throws {
        try await eventually("\(count) ready pool containers", timeout: .seconds(90)) {
            await pool.statuses().first { $0.profile == profile }?.ready == count
        }
    }

    /// Unmounts every slot, then removes containers and files.
    func tearDown() async {
        outputs.closeAll()
        for container in (try? await base.containers()) ?? [] {
            try? await base.client.removeContainer(container.id, force: true)
        }
        let mounter = LinuxSlotMounter()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            try? mounter.unmountAll(root + "/" + entry)
        }
        try? mounter.unmountAll(root)
        await base.tearDown()
    }
}

/// Counts claims by result.
final class RecordingPoolMetrics: PoolMetrics {
    private let counts = Mutex<(warm: Int, cold: Int)>((0, 0))

    func claimed(profile: String, warm: Bool) {
        counts.withLock { warm ? ($0.warm += 1) : ($0.cold += 1) }
    }

    func slotsChanged(profile: String, ready: Int, target: Int) {}

    var warm: Int { counts.withLock { $0.warm } }
    var cold: Int { counts.withLock { $0.cold } }
}

/// Reads the terminal output of every claimed session (as the relay would).
final class ClaimedOutputs: SessionTerminals {
    private let state = Mutex<(text: [String: String], tasks: [Task<Void, Never>])>(([:], []))

    func adopt(_ session: Session, stream: TerminalStream) async {
        adopt(session.id, stream)
    }

    func ended(_ session: Session) async {}

    func adopt(_ session: String, _ stream: TerminalStream) {
        let task = Task<Void, Never> {
            try? await stream.deliver(to: Collector(session: session, outputs: self))
        }
        state.withLock { $0.tasks.append(task) }
    }

    private struct Collector: TerminalStreamSink {
        let session: String
        let outputs: ClaimedOutputs
        func received(_ bytes: ByteBuffer) {
            outputs.state.withLock { $0.text[session, default: ""] += String(buffer: bytes) }
        }
    }

    func text(of session: String) -> String { state.withLock { $0.text[session] ?? "" } }

    func closeAll() {
        for task in state.withLock({ $0.tasks }) { task.cancel() }
    }

    /// Waits until the session's output contains `marker`.
    func waitFor(_ marker: String, in session: String) async throws -> String {
        try await eventually("'\(marker)' in the terminal of \(session)", timeout: .seconds(30)) {
            text(of: session).contains(marker)
        }
        return text(of: session)
    }
}

/// The gate program, built by `scripts/build-gate` when missing or older than its source.
enum GateBinary {
    static func path() throws -> String {
        let root = ManagerFixture.repositoryRoot.path
        let output = root + "/.build/sandcastle-gate/sandcastle-gate"
        let source = root + "/Gate/sandcastle-gate.c"
        let manager = FileManager.default
        let built = (try? manager.attributesOfItem(atPath: output)[.modificationDate] as? Date) ?? .distantPast
        let edited = (try? manager.attributesOfItem(atPath: source)[.modificationDate] as? Date) ?? .distantFuture
        if built < edited {
            let build = try ChildProcess.runBlocking(root + "/scripts/build-gate", [output], timeout: .seconds(300))
            guard build.status == 0 else {
                throw FixtureError(description: "scripts/build-gate failed (exit \(build.status)); it needs gcc and libc6-dev:\n\(build.output)")
            }
        }
        return output
    }
}
