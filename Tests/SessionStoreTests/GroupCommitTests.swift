import Foundation
import GRDB
import Synchronization
import Testing

@testable import SessionStore

/// Concurrent writes share a commit, and each still succeeds or fails on its own.
@Suite("Group commit", .timeLimit(.minutes(1)))
struct GroupCommitTests {
    @Test("writes queued behind a commit share the next one; a write that throws leaves nothing and fails alone")
    func queuedWritesShareOneCommit() async throws {
        try await withStore { store, _ in
            let commits = CommitCounter()
            store.dbPool.add(transactionObserver: commits, extent: .observerLifetime)
            let results = try await withWriterHeld(store, until: 48) {
                try await withThrowingTaskGroup(of: String?.self) { group in
                    for index in 0..<40 {
                        group.addTask {
                            let inserted = try await store.insertSession(makeSession(id: "g\(index)"), event: createdEvent())
                            return inserted.session.id
                        }
                    }
                    for index in 0..<8 {
                        group.addTask {
                            let code = await storeErrorCode {
                                try await store.write("a write that fails half-way") { db in
                                    try db.execute(
                                        sql: "INSERT INTO workspace (name, uid, createdAt) VALUES (?, ?, 0)",
                                        arguments: ["bad-\(index)", 90_000 + index])
                                    throw SessionStoreError(code: .conflict, message: "refused after writing")
                                }
                            }
                            #expect(code == .conflict)
                            return nil
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            #expect(Set(results.compactMap { $0 }) == Set((0..<40).map { "g\($0)" }))
            // The write that held the writer, then one commit for the 48 queued behind it.
            #expect(commits.count == 2)
            #expect(try await store.sessions(limit: 100).sessions.count == 40)
            #expect(try await store.events(after: 0, limit: 100).map(\.id) == Array(1...40))
            let leftovers = try await store.read("counting rolled-back rows") { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM workspace WHERE name LIKE 'bad-%'")
            }
            #expect(leftovers == 0)
        }
    }

    @Test("a write that ends the shared transaction fails alone; the writes before and after it still commit")
    func anAbortedBatchIsRetriedWriteByWrite() async throws {
        try await withStore { store, _ in
            let (_, abortCode, _) = try await withWriterHeld(store, until: 3) {
                // Submitted one at a time, so the batch holds them in this order.
                async let before = store.insertSession(makeSession(id: "before"), event: createdEvent())
                try await waitForPending(store, 1)
                async let aborting: SessionStoreError.Code? = storeErrorCode {
                    try await store.write("a write that rolls the transaction back") { db in
                        try db.execute(sql: "ROLLBACK")
                    }
                }
                try await waitForPending(store, 2)
                // The third makes withWriterHeld let the batch go.
                async let after = store.insertSession(makeSession(id: "after"), event: createdEvent())
                return try await (before, aborting, after)
            }
            #expect(abortCode != nil)
            let ids = try await store.sessions(limit: 10).sessions.map(\.id)
            #expect(Set(ids) == ["before", "after"])
            #expect(try await store.events(after: 0, limit: 10).count == 2)
        }
    }
}

/// Counts the writer connection's commits.
private final class CommitCounter: TransactionObserver, Sendable {
    private let commits = Mutex(0)
    var count: Int { commits.withLock { $0 } }
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
    func databaseDidRollback(_ db: Database) {}
}

/// Runs `body` while a first write holds the writer queue, and lets that write finish once
/// `queued` writes wait behind it, so they are committed as one batch.
private func withWriterHeld<T: Sendable>(
    _ store: SessionStore, until queued: Int, _ body: @Sendable () async throws -> T
) async throws -> T {
    let gate = DispatchSemaphore(value: 0)
    let holding = DispatchSemaphore(value: 0)
    async let held: Void = store.write("holding the writer") { db in
        try db.execute(sql: "INSERT INTO heartbeat (id, at, daemonInstance) VALUES (1, 0, 'held') ON CONFLICT (id) DO NOTHING")
        holding.signal()
        gate.wait()
    }
    // The holding write is on the writer (not pending) before the others are submitted.
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            holding.wait()
            continuation.resume()
        }
    }
    async let result = body()
    try await waitForPending(store, queued)
    gate.signal()
    try await held
    return try await result
}

private func waitForPending(_ store: SessionStore, _ count: Int) async throws {
    while store.groupCommit.pendingCount < count {
        try await Task.sleep(for: .milliseconds(2))
    }
}
