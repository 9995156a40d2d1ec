import Foundation
import GRDB
import Testing

@testable import SessionStore

@Suite("The append-only event log", .timeLimit(.minutes(1)))
struct EventLogTests {
    @Test("appended events get increasing ids and page by id; per-session reads filter")
    func appendAndRead() async throws {
        try await withStore { store, _ in
            #expect(try await store.latestEventID() == 0)
            #expect(try await store.oldestEventID() == nil)
            for index in 1...10 {
                let event = try await store.appendEvent(
                    NewEvent(type: .ptyAttached, sessionID: index.isMultiple(of: 2) ? "even" : "odd",
                             payload: #"{"n":\#(index)}"#))
                #expect(event.id == Int64(index))
            }
            let daemonWide = try await store.appendEvent(NewEvent(type: "daemon.started"))
            #expect(daemonWide.sessionID == nil)
            #expect(try await store.events(after: 0, limit: 4).map(\.id) == [1, 2, 3, 4])
            #expect(try await store.events(after: 8).map(\.id) == [9, 10, 11])
            #expect(try await store.events(forSession: "even", after: 4).map(\.id) == [6, 8, 10])
            #expect(try await store.latestEventID() == 11)
            let encoded = try NewEvent(type: .sessionExited, sessionID: "x", encoding: ["reason": "oom", "code": "137"])
            #expect(encoded.payload == #"{"code":"137","reason":"oom"}"#)
        }
    }

    @Test("a batch of events is appended in order in one write, and a follower sees all of it")
    func appendBatch() async throws {
        try await withStore { store, _ in
            try await store.appendEvent(NewEvent(type: .ptyAttached, sessionID: "s"))
            let batch = (1...5).map { NewEvent(type: .ptyAttached, sessionID: "s\($0)", payload: #"{"n":\#($0)}"#) }
            let appended = try await store.appendEvents(batch)
            #expect(appended.map(\.id) == [2, 3, 4, 5, 6])
            #expect(try await store.events(after: 1).map(\.sessionID) == ["s1", "s2", "s3", "s4", "s5"])
            #expect(try await store.appendEvents([]).isEmpty)
            #expect(try await store.latestEventID() == 6)
        }
    }

    @Test("the schema refuses UPDATE on events: append-only below the API too")
    func appendOnlyTrigger() async throws {
        try await withStore { store, _ in
            try await store.appendEvent(NewEvent(type: .ptyAttached, sessionID: "s"))
            let refused = await #expect(throws: DatabaseError.self) {
                try await store.dbPool.write { db in try db.execute(sql: "UPDATE event SET type = 'forged'") }
            }
            #expect(refused?.message?.contains("append-only") == true)
            #expect(try await store.events(after: 0).first?.type == .ptyAttached)
        }
    }

    @Test("events outlive their session: removing a session keeps its history")
    func eventsOutliveSessions() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "gone"))
            try await store.transition(id: "gone", from: [.creating], to: .removed, event: NewEvent(type: .sessionRemoved))
            try await store.dbPool.write { db in try db.execute(sql: "DELETE FROM session") }
            #expect(try await store.events(forSession: "gone").map(\.type) == [.sessionCreated, .sessionRemoved])
        }
    }

    @Test("retention by age and by count deletes the oldest in batches; ids are never reused")
    func prune() async throws {
        try await withStore { store, _ in
            let old = wholeMilliseconds(Date(timeIntervalSince1970: 1_600_000_000))
            let recent = wholeMilliseconds(Date())
            for index in 0..<30 {
                try await store.appendEvent(NewEvent(type: .ptyDetached, sessionID: "s", time: index < 12 ? old : recent))
            }
            #expect(try await store.pruneEvents() == 0)
            #expect(try await store.pruneEvents(olderThan: recent.addingTimeInterval(-60), batchSize: 5) == 12)
            #expect(try await store.oldestEventID() == 13)
            #expect(try await store.pruneEvents(keepingLatest: 10, batchSize: 3) == 8)
            #expect(try await store.events(after: 0).map(\.id) == Array(21...30))
            #expect(try await store.pruneEvents(keepingLatest: 0) == 10)
            #expect(try await store.oldestEventID() == nil)
            #expect(try await store.latestEventID() == 30)
            #expect(try await store.appendEvent(NewEvent(type: .ptyAttached)).id == 31)
        }
    }

    @Test("waitForEvents returns existing events at once, and otherwise wakes on the next append")
    func waitWakesOnAppend() async throws {
        try await withStore { store, _ in
            try await store.appendEvent(NewEvent(type: .ptyAttached, sessionID: "s"))
            #expect(try await store.waitForEvents(after: 0).map(\.id) == [1])
            try await withThrowingTaskGroup(of: [Event].self) { group in
                group.addTask { try await store.waitForEvents(after: 1) }
                // Let the waiter register before appending (a late registration also works:
                // it then finds the rows on its first read).
                while store.eventSignal.waiterCount == 0 { await Task.yield() }
                try await store.appendEvent(NewEvent(type: .ptyDetached, sessionID: "s"))
                let woken = try await group.next()
                #expect(woken?.map(\.id) == [2])
            }
        }
    }

    @Test("a cancelled waiter returns promptly with CancellationError and leaves no registration")
    func waitIsCancellable() async throws {
        try await withStore { store, _ in
            let waiter = Task { try await store.waitForEvents(after: 0) }
            while store.eventSignal.waiterCount == 0 { await Task.yield() }
            waiter.cancel()
            // The wait has no timeout of its own: returning at all proves the cancellation worked.
            await #expect(throws: CancellationError.self) { try await waiter.value }
            #expect(store.eventSignal.waiterCount == 0)
        }
    }

    @Test("closing the store wakes waiters with closed, and later calls fail with closed")
    func closeWakesWaiters() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SessionStore(
            SessionStore.Configuration(directory: directory.stateDirectory, logger: quietLogger))
        let waiter = Task { try await store.waitForEvents(after: 0) }
        while store.eventSignal.waiterCount == 0 { await Task.yield() }
        try store.close()
        let woken = await storeError { _ = try await waiter.value }
        #expect(woken?.code == .closed)
        #expect(await storeErrorCode { _ = try await store.session(id: "x") } == .closed)
        #expect(await storeErrorCode { try await store.appendEvent(NewEvent(type: .ptyAttached)) } == .closed)
        #expect(await storeErrorCode { try await store.backup(to: directory.path + "/late-backup") } == .closed)
    }

    @Test("reads and writes racing with close either finish or fail with closed, never on a closed connection")
    func closeWhileReadingAndWriting() async throws {
        for round in 0..<20 {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let store = try SessionStore(
                SessionStore.Configuration(directory: directory.stateDirectory, logger: quietLogger))
            _ = try await insertNew(store, makeSession(id: "s\(round)"))
            let outcomes = try await withThrowingTaskGroup(of: [SessionStoreError.Code?].self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var codes: [SessionStoreError.Code?] = []
                        for _ in 0..<50 {
                            do {
                                if worker % 2 == 0 {
                                    _ = try await store.session(id: "s\(round)")
                                } else {
                                    try await store.appendEvent(NewEvent(type: .ptyAttached))
                                }
                                codes.append(nil)
                            } catch let error as SessionStoreError {
                                codes.append(error.code)
                                if error.code == .closed { break }
                            }
                        }
                        return codes
                    }
                }
                // Close while the workers are at it (a read or write may be between its lane and
                // its connection).
                try await Task.sleep(for: .milliseconds(round % 5))
                try store.close()
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(outcomes.allSatisfy { $0 == nil || $0 == .closed }, "\(Set(outcomes.compactMap { $0 }))")
        }
    }

    @Test("after everything was pruned, a waiter waits for the next id instead of spinning")
    func waitAfterPruneDoesNotSpin() async throws {
        try await withStore { store, _ in
            for _ in 0..<5 { try await store.appendEvent(NewEvent(type: .ptyAttached)) }
            try await store.pruneEvents(keepingLatest: 0)
            try await withThrowingTaskGroup(of: [Event].self) { group in
                group.addTask { try await store.waitForEvents(after: 2) }
                while store.eventSignal.waiterCount == 0 { await Task.yield() }
                try await Task.sleep(for: .milliseconds(50))
                // Still one parked waiter, not a loop re-reading the database.
                #expect(store.eventSignal.waiterCount == 1)
                try await store.appendEvent(NewEvent(type: .ptyDetached))
                #expect(try await group.next()?.map(\.id) == [6])
            }
        }
    }

    @Test("an event feed follows appends from other tasks, in order, without loss, until cancelled")
    func feedFollows() async throws {
        try await withStore { store, _ in
            try await store.appendEvent(NewEvent(type: .ptyAttached))
            let reader = Task { () -> [Int64] in
                var ids: [Int64] = []
                for try await event in store.eventFeed(after: 0, batchSize: 7) {
                    ids.append(event.id)
                    if ids.count == 101 { break }
                }
                return ids
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<25 { try await store.appendEvent(NewEvent(type: .ptyDetached)) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await reader.value == Array(1...101))

            let idle = Task { () -> Int in
                var count = 0
                for try await _ in store.eventFeed(after: 101) { count += 1 }
                return count
            }
            while store.eventSignal.waiterCount == 0 { await Task.yield() }
            idle.cancel()
            #expect(try await idle.value == 0)
        }
    }
}
