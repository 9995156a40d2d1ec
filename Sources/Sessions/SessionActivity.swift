import Foundation
import Synchronization

/// Who is using each session's terminal, for the idle reaper: activity not yet written to the
/// store, and how many viewers are attached (a watched session is never idle).
///
/// The terminal relay reports into it on every chunk of input and every viewer that comes or
/// goes, so it is a lock, not an actor: reporting never waits behind the session manager. The
/// reaper drains it once a pass and writes the activity to the store in one batch.
public final class SessionActivity: Sendable {
    private struct State {
        var pending: [String: Date] = [:]
        var viewers: [String: Int] = [:]
    }

    private let state = Mutex(State())
    private let clock: any SessionClock

    public init(clock: any SessionClock = SystemSessionClock()) {
        self.clock = clock
    }

    /// Input, output to a viewer, an exec or an egress connection: the session is in use now.
    public func touch(_ id: String) {
        let now = clock.now()
        state.withLock { $0.pending[id] = now }
    }

    public func viewerAttached(_ id: String) {
        let now = clock.now()
        state.withLock {
            $0.viewers[id, default: 0] += 1
            $0.pending[id] = now
        }
    }

    public func viewerDetached(_ id: String) {
        let now = clock.now()
        state.withLock {
            let count = ($0.viewers[id] ?? 1) - 1
            $0.viewers[id] = count > 0 ? count : nil
            $0.pending[id] = now
        }
    }

    public func viewers(of id: String) -> Int {
        state.withLock { $0.viewers[id] ?? 0 }
    }

    /// The activity since the last drain, cleared.
    func drain() -> [String: Date] {
        state.withLock { state in
            defer { state.pending = [:] }
            return state.pending
        }
    }

    /// Puts back activity the store could not take, unless newer activity arrived meanwhile.
    func restore(_ activity: [String: Date]) {
        state.withLock { state in
            for (id, time) in activity where state.pending[id] == nil { state.pending[id] = time }
        }
    }
}
