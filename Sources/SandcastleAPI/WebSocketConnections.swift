import ServiceLifecycle
import Synchronization

/// The terminal and exec WebSockets being served, counted so that a shutdown can end each with
/// 1001 ("going away": reconnect, or run it again) before the listeners stop.
///
/// Once the listeners stop, swift-websocket closes every exec connection still open with 1000,
/// which its client takes for a normal end. So, as a service placed to stop between the relay and
/// the listeners, at graceful shutdown this fires ``goingAway`` (an exec in flight ends its
/// command and closes with 1001; the relay has already closed every terminal viewer, 1001 too)
/// and then waits until every connection has sent its close, or `drainLimit` passed. On a busy machine a connection's task may not have run yet when the
/// listeners' turn would come.
public final class WebSocketConnections: Service, Sendable {
    private let open = Atomic<Int>(0)
    let drainLimit: Duration
    /// Fired when the daemon's graceful shutdown reaches this service.
    let goingAway = ShutdownSignal()

    public init(drainLimit: Duration = .seconds(2)) {
        self.drainLimit = drainLimit
    }

    /// Connections being served now.
    public var count: Int { open.load(ordering: .acquiring) }

    /// Runs `body`, the serving of one connection, counted.
    func serving(_ body: () async throws -> Void) async rethrows {
        open.add(1, ordering: .acquiringAndReleasing)
        defer { open.subtract(1, ordering: .acquiringAndReleasing) }
        try await body()
    }

    /// Fires ``goingAway``, then returns once no connection is served, or after `limit`. It
    /// polls: it runs once, at shutdown, while the connections it waits for are already closing.
    public func closeAll(within limit: Duration) async {
        goingAway.fire()
        let deadline = ContinuousClock.now + limit
        while count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// As a service: nothing until graceful shutdown, then ``closeAll(within:)``.
    public func run() async throws {
        try? await gracefulShutdown()
        await closeAll(within: drainLimit)
    }
}

/// An exec's command ended because the daemon is shutting down.
struct DaemonGoingAway: Error {}

extension WebSocketConnections {
    /// Runs `body` until it returns or ``goingAway`` fires; then it is cancelled and this throws
    /// ``DaemonGoingAway``.
    func untilGoingAway<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                await self.goingAway.wait()
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw DaemonGoingAway() }
            return result
        }
    }
}
