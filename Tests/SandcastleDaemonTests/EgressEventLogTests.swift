import Foundation
import Logging
import SandcastleTestSupport
import SessionStore
import Testing

@testable import SandcastleDaemon

/// Egress events reach the store in batches: late by at most the log's delay, in the order they
/// came, and nothing waiting is lost when the proxy stops.
@Suite("Egress events, batched")
struct EgressEventLogTests {
    @Test func eventsArriveInOrderInOneBatchAndFlushKeepsTheRest() async throws {
        let directory = try TemporaryDirectory()
        let store = try SessionStore(.init(directory: directory.path + "/state", daemonInstance: "test", logger: Logger(label: "test")))
        defer { try? store.close() }
        let log = EgressEventLog(store: store, logger: Logger(label: "test"))

        for index in 0..<5 { log.append(NewEvent(type: .egressConnected, sessionID: "s\(index)")) }
        var appended: [Event] = []
        for _ in 0..<500 where appended.count < 5 {
            try await Task.sleep(for: .milliseconds(20))
            appended = try await store.events(after: 0)
        }
        #expect(appended.map(\.sessionID) == ["s0", "s1", "s2", "s3", "s4"])
        // Nothing else was appended between them.
        #expect(appended.map(\.id) == Array(1...5))
        #expect(appended.allSatisfy { $0.type == .egressConnected })

        // Queued just before a shutdown: the flush appends it at once.
        log.append(NewEvent(type: .egressClosed, sessionID: "last"))
        await log.flush()
        let after = try await store.events(after: appended.last?.id ?? 0)
        #expect(after.map(\.sessionID) == ["last"])
    }
}
