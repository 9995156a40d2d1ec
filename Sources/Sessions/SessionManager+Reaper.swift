import Foundation
import SessionStore

extension SessionManager {
    /// Records terminal activity (input, or output to a viewer) for idle reaping. Cheap: kept in
    /// memory and written to the store in batches by the reaper.
    public func noteActivity(_ id: String) {
        pendingActivity[id] = clock.now()
    }

    /// A viewer attached to or left the session's terminal; a watched session is never idle.
    public func viewerAttached(_ id: String) {
        viewers[id, default: 0] += 1
        pendingActivity[id] = clock.now()
    }

    public func viewerDetached(_ id: String) {
        let count = (viewers[id] ?? 1) - 1
        viewers[id] = count > 0 ? count : nil
        pendingActivity[id] = clock.now()
    }

    /// One pass of the reaper: writes pending activity, then stops every running session past its
    /// TTL (reason `ttl`) or idle for longer than its idle timeout with no viewer (reason `idle`).
    /// Returns the sessions it stopped.
    @discardableResult
    public func reapOnce() async -> [String] {
        let now = clock.now()
        let activity = pendingActivity
        pendingActivity = [:]
        if !activity.isEmpty {
            do {
                _ = try await store.touchActivity(activity)
            } catch {
                logger.warning("recording terminal activity failed", metadata: ["error": "\(error)"])
                for (id, time) in activity where pendingActivity[id] == nil { pendingActivity[id] = time }
            }
        }
        let running: [Session]
        do {
            running = try await store.sessions(inStates: [.running])
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
            if let idle = session.idleTimeoutSeconds, (viewers[session.id] ?? 0) == 0,
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

    /// Runs the reaper every `reapInterval` until cancelled.
    public func runReaper() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.reapInterval)
            } catch {
                return
            }
            await reapOnce()
        }
    }
}
