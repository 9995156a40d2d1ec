import Dispatch
import Synchronization

/// The store's database work in flight, and whether the store is closing.
///
/// GRDB's pool can hand a read that began just as the pool closed one of the connections it had
/// just closed, and SQLite then works on a freed handle (the process crashes). So every piece of
/// database work passes through here, on the thread that does it (a read lane, the writer queue):
/// none begins once ``close()`` has begun, and `close()` waits for the work that began before.
///
/// The wait never depends on Swift's cooperative pool: work leaves the gate on the thread it
/// ran on, before its caller is resumed.
final class AccessGate: Sendable {
    /// Thrown by ``run(_:)`` once the store is closing; the store names the operation.
    struct Closed: Error {}

    private struct State {
        var running = 0
        var closing = false
        /// The `close()` calls waiting for the running work to leave.
        var closers = 0
    }

    private let state = Mutex(State())
    /// Signalled once per waiting `close()` when the last running work leaves.
    private let drained = DispatchSemaphore(value: 0)

    /// Admits one piece of work, or returns false once the store is closing.
    func enter() -> Bool {
        state.withLock { state in
            guard !state.closing else { return false }
            state.running += 1
            return true
        }
    }

    /// Ends work that ``enter()`` admitted.
    func leave() {
        let closers = state.withLock { state in
            state.running -= 1
            guard state.running == 0 else { return 0 }
            defer { state.closers = 0 }
            return state.closers
        }
        for _ in 0..<closers { drained.signal() }
    }

    /// Runs `work` if the store is not closing.
    ///
    /// - Throws: ``Closed``, or what `work` threw.
    func run<T>(_ work: () throws -> T) throws -> T {
        guard enter() else { throw Closed() }
        defer { leave() }
        return try work()
    }

    /// Admits no more work and blocks until the work already admitted has left.
    func close() {
        let wait = state.withLock { state in
            state.closing = true
            guard state.running > 0 else { return false }
            state.closers += 1
            return true
        }
        if wait { drained.wait() }
    }
}
