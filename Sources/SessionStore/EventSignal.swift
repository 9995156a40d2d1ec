import Synchronization

/// Wakes tasks waiting for the event log to grow past an id.
///
/// Concurrency model: one `Mutex` guards the newest committed id and the waiting continuations.
/// The store calls `published(_:)` after a write transaction that appended events has committed
/// (never from inside it), so a woken reader always finds the new rows. A waiter registers under
/// the same lock that checks the id, so a publish between "check" and "register" cannot be
/// missed. Cancellation resumes the waiter at once; it then re-checks and returns.
final class EventSignal: Sendable {
    private struct Waiter {
        var after: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var latest: Int64
        var closed = false
        var nextToken: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state: Mutex<State>

    init(latest: Int64) {
        state = Mutex(State(latest: latest))
    }

    /// The newest id published so far.
    var latest: Int64 { state.withLock { $0.latest } }

    /// Records that events up to `id` are committed and wakes the waiters they satisfy.
    func published(_ id: Int64) {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard id > state.latest else { return [] }
            state.latest = id
            let tokens = state.waiters.filter { $0.value.after < id }.map(\.key)
            return tokens.compactMap { state.waiters.removeValue(forKey: $0)?.continuation }
        }
        for continuation in ready { continuation.resume() }
    }

    /// Wakes every waiter and makes later waits return at once: the store is closing.
    func close() {
        let waiting: [Waiter] = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiting { waiter.continuation.resume() }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Returns once an id greater than `after` has been published, the task is cancelled, or
    /// the signal is closed.
    func wait(after: Int64) async {
        let token: UInt64 = state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.latest > after || state.closed || Task.isCancelled { return true }
                    state.waiters[token] = Waiter(after: after, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: token) }
            waiter?.continuation.resume()
        }
    }

    /// How many tasks are waiting (for tests and metrics).
    var waiterCount: Int { state.withLock { $0.waiters.count } }
}
