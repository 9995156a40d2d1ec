@testable import SandcastleAPI
import Testing

/// The count a shutdown waits on before the listeners stop (and would close with 1000 what has
/// not sent its 1001 yet).
@Suite("Terminal connections, drained at shutdown")
struct TerminalConnectionsTests {
    /// A connection served until `release` is finished; returns once it is counted.
    static func serveOne(_ connections: TerminalConnections) async -> (served: Task<Void, Never>, release: AsyncStream<Void>.Continuation) {
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

    @Test func drainedWaitsForTheConnectionBeingServedToReturn() async throws {
        let connections = TerminalConnections()
        let (served, release) = await Self.serveOne(connections)
        #expect(connections.count == 1)
        let drained = Task {
            await connections.drained(within: .seconds(600))
            return connections.count
        }
        // Lets the drain start waiting while the connection is still served (if it does not
        // wait, it returns 1).
        try await Task.sleep(for: .milliseconds(50))
        release.finish()
        await served.value
        #expect(await drained.value == 0, "drained returned while a connection was still served")
    }

    @Test func drainedGivesUpAfterItsLimit() async throws {
        let connections = TerminalConnections()
        let (served, release) = await Self.serveOne(connections)
        await connections.drained(within: .milliseconds(20))
        #expect(connections.count == 1, "a connection that never returns does not hold the shutdown")
        release.finish()
        await served.value
        #expect(connections.count == 0)
    }

    @Test func aConnectionThatThrowsIsNoLongerCounted() async throws {
        struct Refused: Error {}
        let connections = TerminalConnections()
        await #expect(throws: Refused.self) { try await connections.serving { throw Refused() } }
        #expect(connections.count == 0)
    }
}
