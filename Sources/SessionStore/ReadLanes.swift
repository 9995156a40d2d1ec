import Dispatch
import Synchronization

/// Where the store's reads run: one serial dispatch queue per reader connection, each on a
/// thread of dispatch's own (never Swift's cooperative pool, which SQLite would block).
///
/// A read goes to the lane with the fewest reads queued on it and runs there from start to end
/// as one synchronous call: GRDB's blocking `read` takes a free reader connection and runs the
/// closure on the calling thread. So a read costs two hand-overs between threads, the lane's and
/// the caller's resumption. GRDB's `async` read costs four: it waits for a free connection on a
/// queue of its own and returns to the caller's executor, then runs the closure on the
/// connection's queue and returns again, each step waking another thread.
///
/// With as many lanes as reader connections, a lane never waits for a connection unless a read
/// outside the lanes holds one. A read that has started runs to its end; cancellation is checked
/// before it is queued.
final class ReadLanes: Sendable {
    private let lanes: [DispatchQueue]
    /// Reads queued or running, per lane.
    private let queued: Mutex<[Int]>

    init(count: Int, label: String) {
        let count = max(1, count)
        lanes = (0..<count).map { DispatchQueue(label: "\(label).read.\($0)") }
        queued = Mutex(Array(repeating: 0, count: count))
    }

    /// Runs `body` on the least busy lane and returns what it returned or throws what it threw.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        let lane = queued.withLock { queued in
            var lane = 0
            for index in queued.indices where queued[index] < queued[lane] { lane = index }
            queued[lane] += 1
            return lane
        }
        return try await withCheckedThrowingContinuation { continuation in
            lanes[lane].async {
                let result = Result { try body() }
                self.queued.withLock { $0[lane] -= 1 }
                continuation.resume(with: result)
            }
        }
    }
}
