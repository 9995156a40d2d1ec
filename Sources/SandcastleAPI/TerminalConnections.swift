import ServiceLifecycle
import Synchronization

/// The terminal WebSockets being served, counted so that a shutdown can wait for their close
/// frames.
///
/// At shutdown the relay closes every viewer, and each connection then sends 1001 ("going
/// away": reconnect) and returns. The listeners stop after that; but once they do, swift-websocket
/// closes every connection still open with 1000, which a browser takes for "the session ended".
/// On a busy machine the listeners' turn can come before a connection's task has run, so as a
/// service placed to stop between the relay and the listeners this waits until every connection
/// has sent its close (or `drainLimit` passed).
public final class TerminalConnections: Service, Sendable {
    private let open = Atomic<Int>(0)
    let drainLimit: Duration

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

    /// Returns once no connection is served, or after `limit`. It polls: it runs once, at
    /// shutdown, while the connections it waits for are already closing.
    public func drained(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// As a service: nothing until graceful shutdown, then ``drained(within:)``.
    public func run() async throws {
        try? await gracefulShutdown()
        await drained(within: drainLimit)
    }
}
