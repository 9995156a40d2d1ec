import Dispatch

/// A serial queue for a limiter's blocking work (processes, mounts, ioctls, quotactl): each call
/// runs whole on it, never on Swift's cooperative pool, and the caller awaits its result. Being
/// serial, it also orders the calls of one limiter.
struct BlockingQueue: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () throws(WorkspaceError) -> T) async throws(WorkspaceError) -> T {
        let result: Result<T, WorkspaceError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result { () throws(WorkspaceError) in try body() })
            }
        }
        return try result.get()
    }
}
