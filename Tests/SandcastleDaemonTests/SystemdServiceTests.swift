import Foundation
import HostHardening
import Logging
import SandcastleTestSupport
import Synchronization
import Testing

@testable import SandcastleDaemon

/// The watchdog is fed only while the engine and the store are healthy: a wedged daemon must be
/// restarted by systemd, a healthy one never.
@Suite("The systemd health loop", .timeLimit(.minutes(1)))
struct SystemdServiceTests {
    final class Switch: Sendable {
        let engineDown = Mutex(true)
    }

    struct EngineDown: Error, CustomStringConvertible {
        var description: String { "connection refused" }
    }

    @Test func noWatchdogPingWhileTheEngineIsDownAndPingsOnceItIsBack() async throws {
        let listener = try NotifyListener(abstract: true)
        let notifier = try #require(try SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "200000"]))
        let state = Switch()
        let readiness = SystemdService.Readiness(listeners: 2)
        let service = SystemdService(
            notifier: notifier, readiness: readiness,
            health: .init(
                engine: { if state.engineDown.withLock({ $0 }) { throw EngineDown() } }, store: {},
                status: { "sessions: 0 running" }),
            logger: Logger(label: "test.systemd"))
        let running = Task { await service.run() }
        defer { running.cancel() }

        readiness.listenerUp()
        readiness.listenerUp()
        let ready = try await DaemonLifecycleTests.receive(listener) { $0.hasPrefix("READY=1") }
        #expect(ready == ["READY=1\nSTATUS=sessions: 0 running"], "READY only after both listeners")
        // Unhealthy: a status that says why, and no ping for several intervals.
        var unhealthy: [String] = []
        for _ in 0..<5 {
            unhealthy += try await DaemonLifecycleTests.receive(listener) { $0.hasPrefix("STATUS=") }
        }
        #expect(!unhealthy.contains("WATCHDOG=1"), "\(unhealthy)")
        #expect(unhealthy.last?.contains("unhealthy: the engine does not answer /_ping: connection refused") == true, "\(unhealthy)")
        state.engineDown.withLock { $0 = false }
        let back = try await DaemonLifecycleTests.receive(listener) { $0 == "WATCHDOG=1" }
        #expect(back.last == "WATCHDOG=1")
    }
}
