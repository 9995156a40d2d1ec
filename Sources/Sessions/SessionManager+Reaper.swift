import Foundation
import ServiceLifecycle
import SessionStore

extension SessionManager {
    /// One pass of the reaper: writes pending activity, then stops every running session past its
    /// TTL (reason `ttl`) or idle for longer than its idle timeout with no viewer (reason `idle`).
    /// Returns the sessions it stopped.
    @discardableResult
    public func reapOnce() async -> [String] {
        let now = clock.now()
        let activity = self.activity.drain()
        if !activity.isEmpty {
            do {
                _ = try await store.touchActivity(activity)
            } catch {
                logger.warning("recording terminal activity failed", metadata: ["error": "\(error)"])
                self.activity.restore(activity)
            }
        }
        let running: [SessionDeadlines]
        do {
            running = try await store.runningSessionDeadlines()
        } catch {
            logger.warning("the reaper could not list sessions", metadata: ["error": "\(error)"])
            return []
        }
        var due: [(String, ExitReason)] = []
        for session in running {
            if let ttl = session.ttlSeconds, now.timeIntervalSince(session.startedAt ?? session.createdAt) >= Double(ttl) {
                due.append((session.id, .ttl))
                continue
            }
            let lastActivity = max(session.lastActivityAt, activity[session.id] ?? .distantPast)
            if let idle = session.idleTimeoutSeconds, self.activity.viewers(of: session.id) == 0,
                now.timeIntervalSince(lastActivity) >= Double(idle)
            {
                due.append((session.id, .idle))
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for (id, reason) in due {
                group.addTask {
                    do {
                        try await self.stop(id, reason: reason)
                    } catch {
                        self.logger.warning("reaping a session failed", metadata: ["session.id": "\(id)", "error": "\(error)"])
                    }
                }
            }
        }
        return due.map(\.0)
    }
}

/// The idle and TTL reaper as a service: a pass every `reapInterval` until the daemon shuts down.
public struct SessionReaper: Service {
    let manager: SessionManager

    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func run() async throws {
        let interval = manager.configuration.reapInterval
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                await manager.reapOnce()
            }
        }
    }
}

/// Following the engine's events as a service, until the daemon shuts down.
public struct EngineEventService: Service {
    let manager: SessionManager

    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await manager.followEngineEvents() }
    }
}
