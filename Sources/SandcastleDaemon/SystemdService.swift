import Foundation
import HostHardening
import Logging
import ServiceLifecycle
import SessionStore
import Sessions
import Synchronization

/// The daemon's conversation with systemd (`Type=notify`): `READY=1` once every listener is up
/// (reconciliation runs before the listeners start), `STATUS=` with the session counts,
/// `WATCHDOG=1` at half of `WatchdogSec=` but only while the engine answers `/_ping` and the
/// store takes a write, and `STOPPING=1` as soon as shutdown begins.
///
/// Without `$NOTIFY_SOCKET` nothing is sent; the health loop still runs its checks and logs a
/// change of health, so a daemon outside systemd reports the same problems.
struct SystemdService: Service {
    let notifier: SystemdNotifier?
    let readiness: Readiness
    let health: Health
    let logger: Logger
    /// Called once, when the daemon is ready (the hardening check of every thread).
    var onReady: @Sendable () -> Void = {}

    /// What the health loop asks; each throws when its part is unhealthy.
    struct Health: Sendable {
        /// The engine answers `/_ping`.
        var engine: @Sendable () async throws -> Void
        /// The store takes a write.
        var store: @Sendable () async throws -> Void
        /// The `STATUS=` line.
        var status: @Sendable () async -> String

        /// The daemon's: the engine's ping, the store's write check, the session counts.
        static func of(_ manager: SessionManager) -> Health {
            Health(
                engine: { try await manager.checkEngine() }, store: { try await manager.checkStore() },
                status: { await statusLine(manager) })
        }
    }

    /// Counts listeners up; finishes its stream when all have reported.
    final class Readiness: Sendable {
        private let remaining: Mutex<Int>
        let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation

        init(listeners: Int) {
            remaining = Mutex(listeners)
            (stream, continuation) = AsyncStream.makeStream()
        }

        func listenerUp() {
            let done = remaining.withLock { count -> Bool in
                count -= 1
                return count == 0
            }
            if done { continuation.finish() }
        }
    }

    func run() async {
        // Cancellation (at shutdown) ends the loop quietly: an error here would make the daemon
        // exit 1 on a clean SIGTERM.
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                for await _ in readiness.stream {}
                guard !Task.isCancelled else { return }
                onReady()
                let line = await health.status()
                send("ready") { try $0.ready(status: line) }
                logger.info("ready")
                var healthy = true
                let interval = notifier?.watchdogPingInterval ?? .seconds(10)
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { break }
                    // Half an interval at most for the checks: a healthy daemon's pings come at
                    // most 3/4 of WatchdogSec apart.
                    let problem = await healthProblem(timeout: interval / 2)
                    if let problem {
                        if healthy { logger.error("unhealthy: \(problem); the watchdog is no longer fed") }
                        send("status") { try $0.status("unhealthy: \(problem)") }
                    } else {
                        if !healthy { logger.notice("healthy again") }
                        if notifier?.watchdogPingInterval != nil { send("watchdog") { try $0.watchdogPing() } }
                        let line = await health.status()
                        send("status") { try $0.status(line) }
                    }
                    healthy = problem == nil
                }
            }
        } onGracefulShutdown: {
            send("stopping") { try $0.stopping(status: "stopping; sessions keep running") }
        }
    }

    /// Sends when there is a notifier; a failure is logged, never fatal.
    private func send(_ what: String, _ body: (SystemdNotifier) throws -> Void) {
        guard let notifier else { return }
        do { try body(notifier) } catch { logger.warning("sd_notify \(what) failed: \(error)") }
    }

    /// nil when healthy; else what is wrong. Both checks must finish within `timeout`.
    func healthProblem(timeout: Duration) async -> String? {
        enum Outcome: Sendable {
            case check(String?)
            case timedOut
        }
        return await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do { try await health.engine(); return .check(nil) } catch {
                    return .check("the engine does not answer /_ping: \(error)")
                }
            }
            group.addTask {
                do { try await health.store(); return .check(nil) } catch {
                    return .check("the store is not writable: \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .timedOut
            }
            var problems: [String] = []
            var checked = 0
            while checked < 2, let outcome = await group.next() {
                switch outcome {
                case .check(let problem):
                    checked += 1
                    if let problem { problems.append(problem) }
                case .timedOut:
                    problems.append("a health check took longer than \(timeout)")
                    checked = 2
                }
            }
            group.cancelAll()
            return problems.isEmpty ? nil : problems.joined(separator: "; ")
        }
    }

    /// `3 running, 1 exited, 0 failed`.
    static func statusLine(_ manager: SessionManager) async -> String {
        let counts = (try? await manager.sessionCounts()) ?? [:]
        var parts: [String] = []
        for state in [SessionState.running, .creating, .starting, .stopping, .exited, .failed] {
            let count = counts[state] ?? 0
            if count > 0 || state == .running { parts.append("\(count) \(state.rawValue)") }
        }
        return "sessions: " + parts.joined(separator: ", ")
    }
}
