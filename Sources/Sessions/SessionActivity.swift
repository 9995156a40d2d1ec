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

    /// A viewer attached. Attaches and detaches are counted in whatever order they arrive: the
    /// relay reports each from the thread where it happened, so a viewer that leaves at once can
    /// have its detach counted before its attach, and the count must still come back to 0.
    public func viewerAttached(_ id: String) {
        countViewer(id, 1)
    }

    public func viewerDetached(_ id: String) {
        countViewer(id, -1)
    }

    private func countViewer(_ id: String, _ change: Int) {
        let now = clock.now()
        state.withLock {
            let count = $0.viewers[id, default: 0] + change
            $0.viewers[id] = count == 0 ? nil : count
            $0.pending[id] = now
        }
    }

    public func viewers(of id: String) -> Int {
        state.withLock { max(0, $0.viewers[id] ?? 0) }
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
