@testable import SandcastleAPI
import Testing

/// What a shutdown does before the listeners stop (and would close with 1000 what has not sent its
/// 1001 yet): tell the connections, and wait for them.
@Suite("WebSocket connections, closed at shutdown")
struct WebSocketConnectionsTests {
    /// A connection served until `release` is finished; returns once it is counted.
    static func serveOne(_ connections: WebSocketConnections) async -> (served: Task<Void, Never>, release: AsyncStream<Void>.Continuation) {
        let (release, released) = AsyncStream<Void>.makeStream()
        let (entered, enteredNotice) = AsyncStream<Void>.makeStream()
        let served = Task {
            await connections.serving {
                enteredNotice.yield()
                for await _ in release {}
            }
        }
        for await _ in entered { break }
        return (served, released)
    }

    @Test func closeAllWaitsForTheConnectionBeingServedToReturn() async throws {
        let connections = WebSocketConnections()
        let (served, release) = await Self.serveOne(connections)
        #expect(connections.count == 1)
        let drained = Task {
            await connections.closeAll(within: .seconds(600))
            return connections.count
        }
        // Lets closeAll start waiting while the connection is still served (if it does not
        // wait, it returns 1).
        try await Task.sleep(for: .milliseconds(50))
        release.finish()
        await served.value
        #expect(await drained.value == 0, "closeAll returned while a connection was still served")
    }

    @Test func closeAllGivesUpAfterItsLimit() async throws {
        let connections = WebSocketConnections()
        let (served, release) = await Self.serveOne(connections)
        await connections.closeAll(within: .milliseconds(20))
        #expect(connections.count == 1, "a connection that never returns does not hold the shutdown")
        release.finish()
        await served.value
        #expect(connections.count == 0)
    }

    @Test func aConnectionThatThrowsIsNoLongerCounted() async throws {
        struct Refused: Error {}
        let connections = WebSocketConnections()
        await #expect(throws: Refused.self) { try await connections.serving { throw Refused() } }
        #expect(connections.count == 0)
    }

    @Test func aCommandInFlightEndsWhenTheShutdownBegins() async throws {
        let connections = WebSocketConnections()
        let (started, startedNotice) = AsyncStream<Void>.makeStream()
        let served = Task {
            try await connections.serving {
                _ = try await connections.untilGoingAway {
                    startedNotice.yield()
                    try await Task.sleep(for: .seconds(600))
                    return 0
                }
            }
        }
        for await _ in started { break }
        await connections.closeAll(within: .seconds(600))
        #expect(connections.count == 0)
        await #expect(throws: DaemonGoingAway.self) { try await served.value }
    }

    @Test func aCommandThatEndsFirstGivesItsResult() async throws {
        let connections = WebSocketConnections()
        #expect(try await connections.untilGoingAway { 42 } == 42)
        struct Failed: Error {}
        await #expect(throws: Failed.self) { try await connections.untilGoingAway { () async throws -> Int in throw Failed() } }
    }
}
