import Dispatch

/// A serial queue for blocking work (a limiter's processes, mounts, ioctls and quotactl; the
/// resolver's path walks): each call runs whole on it, never on Swift's cooperative pool, and the
/// caller awaits its result. Being serial, it also orders the calls of one owner.
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
