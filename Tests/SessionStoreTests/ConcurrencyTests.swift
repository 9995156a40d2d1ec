import Foundation
import Synchronization
import Testing

@testable import SessionStore

@Suite("Concurrent writers", .timeLimit(.minutes(1)))
struct ConcurrencyTests {
    @Test("50 concurrent inserts of distinct ids: all inserted, one creation event each, ids 1...50")
    func distinctInserts() async throws {
        try await withStore { store, _ in
            let results = try await withThrowingTaskGroup(of: InsertResult.self) { group in
                for index in 0..<50 {
                    group.addTask { try await store.insertSession(makeSession(id: "d\(index)"), event: createdEvent()) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { if case .inserted = $0 { true } else { false } })
            #expect(Set(results.map(\.session.id)).count == 50)
            let events = try await store.events(after: 0, limit: 100)
            #expect(events.map(\.id) == Array(1...50))
            #expect(Set(events.compactMap(\.sessionID)) == Set((0..<50).map { "d\($0)" }))
            #expect(try await store.sessions(limit: 100).sessions.count == 50)
        }
    }

    @Test("20 concurrent inserts of one id: exactly one inserted, 19 existing, one event")
    func sameIDInserts() async throws {
        try await withStore { store, _ in
            let results = try await withThrowingTaskGroup(of: InsertResult.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await store.insertSession(makeSession(id: "one", requestHash: "h\(index)"), event: createdEvent())
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let inserted = results.compactMap { if case .inserted(let session) = $0 { session } else { nil } }
            #expect(inserted.count == 1)
            let winner = try #require(inserted.first)
            // Every loser sees the winner's row, hash included, to decide retry vs conflict.
            #expect(results.allSatisfy { $0.session == winner })
            #expect(try await store.events(after: 0).count == 1)
        }
    }

    @Test("20 concurrent compare-and-set transitions on one session: exactly one wins")
    func casTransitions() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "race"))
            try await store.transition(id: "race", from: [.creating], to: .starting)
            try await store.transition(id: "race", from: [.starting], to: .running)
            let outcomes = await withTaskGroup(of: Result<Session, any Error>.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        do {
                            return .success(
                                try await store.transition(
                                    id: "race", from: [.running], to: index.isMultiple(of: 2) ? .stopping : .exited,
                                    event: NewEvent(type: .sessionStopped, payload: #"{"by":\#(index)}"#)))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            let losers = outcomes.compactMap { outcome -> SessionStoreError? in
                if case .failure(let error) = outcome { error as? SessionStoreError } else { nil }
            }
            #expect(losers.count == 19)
            let finalState = try #require(try await store.session(id: "race")).state
            #expect(winners.first?.state == finalState)
            #expect(losers.allSatisfy { $0.code == .illegalTransition && $0.actualState == finalState })
            // One event from the winner only.
            #expect(try await store.events(forSession: "race").filter { $0.type == .sessionStopped }.count == 1)
        }
    }

    @Test("concurrent appends from 10 tasks: ids strictly increasing per task and gap-free overall")
    func gapFreeIDs() async throws {
        try await withStore { store, _ in
            let perTask = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for task in 0..<10 {
                    group.addTask {
                        var ids: [Int64] = []
                        for index in 0..<50 {
                            let event = try await store.appendEvent(
                                NewEvent(type: .ptyAttached, sessionID: "t\(task)", payload: #"{"i":\#(index)}"#))
                            ids.append(event.id)
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for ids in perTask {
                #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
            }
            #expect(perTask.flatMap { $0 }.sorted() == Array(1...500))
            let stored = try await store.events(after: 0, limit: 1000).map(\.id)
            #expect(stored == Array(1...500))
            #expect(try await store.latestEventID() == 500)
        }
    }

    @Test("a read that takes long holds up neither the other reads nor the writes", arguments: [2, 4])
    func slowReadHoldsUpNothing(readers: Int) async throws {
        try await withStore(configure: { $0.maximumReaderCount = readers }) { store, _ in
            try await insertNew(store, makeSession(id: "kept"))
            let release = DispatchSemaphore(value: 0)
            let slowEnded = Atomic(false)
            // Were the other reads queued behind the slow one, this ends it, and them, late.
            DispatchQueue.global().asyncAfter(deadline: .now() + 20) { release.signal() }
            let (started, didStart) = AsyncStream.makeStream(of: Void.self)
            let slow = Task {
                try await store.read("holding a reader") { db in
                    let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM session")
                    didStart.yield()
                    release.wait()
                    slowEnded.store(true, ordering: .sequentiallyConsistent)
                    return count
                }
            }
            for await _ in started.prefix(1) {}
            // Held, the slow read's snapshot still has one session; the others see what commits.
            try await insertNew(store, makeSession(id: "added"))
            for _ in 0..<20 {
                #expect(try await store.session(id: "added")?.id == "added")
            }
            #expect(try await store.sessions(limit: 10).sessions.count == 2)
            let heldThroughout = !slowEnded.load(ordering: .sequentiallyConsistent)
            #expect(heldThroughout)
            release.signal()
            #expect(try await slow.value == 1)
        }
    }
}
