import Synchronization

/// Bounds how many engine calls run at once; the rest wait in arrival order.
///
/// The engine saturates near 10 launches a second on two cores: letting 50 creates through at
/// once only makes every one of them slow and risks timeouts. Waiters are resumed first in,
/// first out; a cancelled waiter leaves the queue without taking a slot.
public final class EngineLimiter: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    public let limit: Int

    public init(limit: Int) {
        precondition(limit > 0, "an engine limiter needs at least one slot")
        self.limit = limit
        self.state = Mutex(State(available: limit))
    }

    /// Runs `body` once a slot is free.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> sending T
    ) async throws -> sending T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Calls in flight and waiting, for metrics.
    public var load: (running: Int, waiting: Int) {
        state.withLock { (limit - $0.available, $0.waiters.count) }
    }

    private func acquire() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Decide and enqueue under one lock, so a release cannot slip in between.
                enum Action { case proceed, wait, cancel }
                let action = state.withLock { state -> Action in
                    if Task.isCancelled { return .cancel }
                    if state.available > 0 && state.waiters.isEmpty {
                        state.available -= 1
                        return .proceed
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .wait
                }
                switch action {
                case .proceed: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { state -> Waiter? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        // The slot passes straight to the next waiter.
        next?.continuation.resume()
    }
}
