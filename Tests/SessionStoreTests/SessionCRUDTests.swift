import Foundation
import GRDB
import Testing

@testable import SessionStore

@Suite("Sessions: insert, transition, update, queries")
struct SessionCRUDTests {
    @Test("an inserted session reads back equal, with its creation event committed alongside")
    func insertAndRead() async throws {
        try await withStore { store, _ in
            let session = makeSession(id: "s1")
            let result = try await store.insertSession(session, event: createdEvent(#"{"image":"sandbox:latest"}"#))
            #expect(result == .inserted(session))
            #expect(try await store.session(id: "s1") == session)
            #expect(try await store.session(id: "nope") == nil)
            let events = try await store.events(after: 0)
            #expect(events.count == 1)
            #expect(events.first?.sessionID == "s1")
            #expect(events.first?.type == .sessionCreated)
            #expect(events.first?.payload == #"{"image":"sandbox:latest"}"#)
        }
    }

    @Test("a second insert of an id returns the stored row, writes nothing, and exposes the hash to compare")
    func idempotentInsert() async throws {
        try await withStore { store, _ in
            let first = makeSession(id: "same", requestHash: "h1")
            try await insertNew(store, first)
            var retry = makeSession(id: "same", requestHash: "h1")
            retry.image = "other:image"
            let again = try await store.insertSession(retry, event: createdEvent())
            #expect(again == .existing(first))
            let conflicting = try await store.insertSession(makeSession(id: "same", requestHash: "h2"), event: createdEvent())
            #expect(conflicting.session.requestHash == "h1")
            #expect(try await store.events(after: 0).count == 1)
        }
    }

    @Test("a container name used by another session is a conflict, and the failed insert leaves no event")
    func containerNameConflict() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "a"))
            var other = makeSession(id: "b")
            other.containerName = "sandcastle-a"
            let error = await storeError { _ = try await store.insertSession(other, event: createdEvent()) }
            #expect(error?.code == .conflict)
            #expect(error?.sessionID == "b")
            #expect(try await store.session(id: "b") == nil)
            #expect(try await store.events(after: 0).count == 1)
        }
    }

    @Test("a non-creating initial state and invalid JSON payloads are refused as invalidInput")
    func invalidInput() async throws {
        try await withStore { store, _ async throws in
            var running = makeSession(id: "r")
            running.state = .running
            #expect(await storeErrorCode { _ = try await store.insertSession(running, event: createdEvent()) } == .invalidInput)
            let badPayload = NewEvent(type: .sessionCreated, payload: "{not json")
            #expect(await storeErrorCode { _ = try await store.insertSession(makeSession(id: "p"), event: badPayload) } == .invalidInput)
            // The whole transaction rolled back: no session without its event.
            #expect(try await store.session(id: "p") == nil)
            #expect(await storeErrorCode { _ = try await store.sessions(limit: 0) } == .invalidInput)
        }
    }

    @Test("a full lifecycle with a restart: states, timestamps and one event per transition")
    func lifecycle() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "life"))
            let t1 = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_001))
            let t2 = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_002))
            let t3 = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_003))
            var session = try await store.transition(id: "life", from: [.creating], to: .starting) { $0.containerID = "c1" }
            #expect(session.state == .starting && session.containerID == "c1")
            session = try await store.transition(
                id: "life", from: [.starting], to: .running, at: t1, event: NewEvent(type: .sessionStarted))
            #expect(session.startedAt == t1 && session.finishedAt == nil)
            session = try await store.transition(
                id: "life", from: [.running], to: .exited, at: t2, event: NewEvent(type: .sessionExited)
            ) {
                $0.exitCode = 137
                $0.exitReason = .oom
            }
            #expect(session.finishedAt == t2 && session.exitCode == 137 && session.exitReason == .oom)
            session = try await store.transition(id: "life", from: [.exited], to: .starting)
            #expect(session.finishedAt == nil && session.exitCode == nil && session.exitReason == nil)
            #expect(session.startedAt == t1)
            session = try await store.transition(id: "life", from: [.starting], to: .running, at: t3)
            #expect(session.startedAt == t3)
            session = try await store.transition(
                id: "life", from: SessionState.live, to: .removed, at: t3, event: NewEvent(type: .sessionRemoved))
            #expect(session.state == .removed && session.finishedAt == t3)
            #expect(try await store.session(id: "life") == session)
            let types = try await store.events(forSession: "life").map(\.type)
            #expect(types == [.sessionCreated, .sessionStarted, .sessionExited, .sessionRemoved])
        }
    }

    @Test("a session outside the caller's from-set is refused with its actual state, and nothing changes")
    func compareAndSetRefusal() async throws {
        try await withStore { store, _ in
            let stored = try await insertNew(store, makeSession(id: "cas"))
            let error = await storeError {
                try await store.transition(
                    id: "cas", from: [.running], to: .stopping, event: NewEvent(type: .sessionStopped)
                ) { $0.error = "should not be written" }
            }
            #expect(error?.code == .illegalTransition)
            #expect(error?.actualState == .creating)
            #expect(error?.targetState == .stopping)
            #expect(error?.sessionID == "cas")
            #expect(error?.message.contains("cas") == true)
            #expect(try await store.session(id: "cas") == stored)
            #expect(try await store.events(after: 0).count == 1)
        }
    }

    @Test("a move the table forbids is refused even when the caller lists the current state")
    func tableEnforced() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "t"))
            let error = await storeError { try await store.transition(id: "t", from: [.creating], to: .running) }
            #expect(error?.code == .illegalTransition)
            #expect(error?.actualState == .creating)
            #expect(await storeErrorCode { try await store.transition(id: "t", from: [.creating], to: .creating) } == .illegalTransition)
            #expect(await storeErrorCode { try await store.transition(id: "missing", from: [.creating], to: .starting) } == .notFound)
        }
    }

    @Test("mutate cannot change the id or the state")
    func mutateCannotRedirect() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "m"))
            let session = try await store.transition(id: "m", from: [.creating], to: .starting) {
                $0.id = "other"
                $0.state = .removed
            }
            #expect(session.id == "m" && session.state == .starting)
            #expect(try await store.session(id: "other") == nil)
        }
    }

    @Test("every state passes the schema's CHECK constraint (reached by legal transitions)")
    func everyStateStorable() async throws {
        try await withStore { store, _ in
            for target in SessionState.allCases {
                let id = "state-\(target)"
                try await insertNew(store, makeSession(id: id))
                for step in Self.path(to: target) {
                    let current = try #require(try await store.session(id: id)).state
                    try await store.transition(id: id, from: [current], to: step)
                }
                #expect(try await store.session(id: id)?.state == target)
            }
        }
    }

    /// The shortest path of moves from `creating` to `target`.
    static func path(to target: SessionState) -> [SessionState] {
        var previous: [SessionState: SessionState] = [:]
        var queue: [SessionState] = [.creating]
        var seen: Set<SessionState> = [.creating]
        while !queue.isEmpty {
            let state = queue.removeFirst()
            for next in state.successors.sorted(by: { $0.rawValue < $1.rawValue }) where seen.insert(next).inserted {
                previous[next] = state
                queue.append(next)
            }
        }
        var path: [SessionState] = []
        var state = target
        while state != .creating, let before = previous[state] {
            path.insert(state, at: 0)
            state = before
        }
        return path
    }

    @Test("what a transition or an update returns is what reading the session back gives")
    func writesReturnWhatIsStored() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "w1"))
            // A time between two milliseconds: the row keeps milliseconds, and so must the answer.
            let time = Date(timeIntervalSince1970: 1_800_000_000.123_456_7)
            let starting = try await store.transition(id: "w1", from: [.creating], to: .starting, at: time) {
                $0.containerID = "c-w1"
                $0.labels = ["team": "ünïcode", "empty": ""]
                $0.env = ["A=1"]
                $0.lastActivityAt = time
            }
            #expect(try await store.session(id: "w1") == starting)
            let running = try await store.transition(id: "w1", from: [.starting], to: .running, at: time.addingTimeInterval(0.000_4))
            #expect(running.startedAt != nil)
            #expect(try await store.session(id: "w1") == running)
            let updated = try await store.update(id: "w1") { $0.exitReason = "custom"; $0.ttlSeconds = 60 }
            #expect(try await store.session(id: "w1") == updated)
        }
    }

    @Test("a transition after a write takes the session the write remembered, as the row holds it")
    func transitionsReuseWhatWasWritten() async throws {
        try await withStore { store, _ in
            @Sendable func rowValues(_ id: String) async throws -> [DatabaseValue] {
                let values = try await store.dbPool.read { db in
                    try Row.fetchOne(db, sql: Session.selectSQL + " WHERE id = ?", arguments: [id]).map { Array($0.databaseValues) }
                }
                return try #require(values)
            }
            let inserted = try await insertNew(store, makeSession(id: "m1"))
            // What SQLite gives back for each value is what the write remembered, so it is a hit.
            #expect(store.writtenSessions.session(id: "m1", values: try await rowValues("m1")) == inserted)
            let starting = try await store.transition(id: "m1", from: [.creating], to: .starting) { $0.containerID = "c-m1" }
            #expect(store.writtenSessions.session(id: "m1", values: try await rowValues("m1")) == starting)
            // A write that does not go through the memo leaves a row that no longer matches.
            try await store.touchActivity(id: "m1", at: Date(timeIntervalSince1970: 1_900_000_000))
            #expect(store.writtenSessions.session(id: "m1", values: try await rowValues("m1")) == nil)
            let running = try await store.transition(id: "m1", from: [.starting], to: .running)
            #expect(running.lastActivityAt == Date(timeIntervalSince1970: 1_900_000_000))
            #expect(try await store.session(id: "m1") == running)
        }
    }

    @Test("a row changed behind the store's back is decoded again, never taken from memory")
    func changedRowsAreDecoded() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "m2"))
            try await store.dbPool.write { db in
                try db.execute(sql: #"UPDATE session SET labels = '{"x":"y"}', env = '["B=2"]' WHERE id = 'm2'"#)
            }
            let starting = try await store.transition(id: "m2", from: [.creating], to: .starting)
            #expect(starting.labels == ["x": "y"] && starting.env == ["B=2"])
            #expect(try await store.session(id: "m2") == starting)
        }
    }

    @Test("a JSON column damaged outside the daemon is an undecodable error naming the column, not its value")
    func damagedJSONColumn() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "d1"))
            // Shapes SQLite's checks let through (valid JSON, an array or an object) with a value
            // that is not a string.
            for (column, text) in [("env", #"["SECRET=1", 2]"#), ("command", #"["sh", {}]"#), ("labels", #"{"a": ["SECRET"]}"#)] {
                try await store.dbPool.write { db in
                    try db.execute(sql: "UPDATE session SET labels = '{}', command = '[]', env = '[]' WHERE id = 'd1'")
                    try db.execute(sql: "UPDATE session SET \(column) = ? WHERE id = 'd1'", arguments: [text])
                }
                let error = await #expect(throws: SessionStoreError.self) { try await store.session(id: "d1") }
                #expect(error?.code == .undecodable)
                #expect(error?.message.contains("column '\(column)' of session 'd1'") == true, "\(error?.message ?? "")")
                #expect(error?.message.contains("SECRET") == false)
            }
        }
    }

    @Test("every column is written to its own place, on insert and on update")
    func everyColumnKeepsItsValue() async throws {
        try await withStore { store, _ in
            // Values of the same type all differ, so two columns swapped would read back wrong.
            var session = makeSession(id: "col1")
            session.poolSlot = "slot-col1"
            let inserted = try await insertNew(store, session)
            #expect(try await store.session(id: "col1") == inserted)
            let updated = try await store.update(id: "col1") {
                $0.containerID = "c-col1"
                $0.exitCode = 7
                $0.exitReason = "reason-col1"
                $0.error = "error-col1"
                $0.startedAt = Date(timeIntervalSince1970: 1_800_000_001)
                $0.finishedAt = Date(timeIntervalSince1970: 1_800_000_002)
                $0.lastActivityAt = Date(timeIntervalSince1970: 1_800_000_003)
                $0.ttlSeconds = 61
                $0.idleTimeoutSeconds = 62
                $0.labels = ["k": "v"]
                $0.command = ["cmd"]
                $0.env = ["E=1"]
            }
            #expect(try await store.session(id: "col1") == updated)
            #expect(updated.exitCode == 7 && updated.ttlSeconds == 61 && updated.idleTimeoutSeconds == 62)
            #expect(updated.poolSlot == "slot-col1" && updated.workspaceUID == 20000)
        }
    }

    @Test("an update that changes one field keeps every other, JSON columns included")
    func updateOfOneField() async throws {
        try await withStore { store, _ in
            var session = makeSession(id: "one1")
            session.labels = ["team": "a"]
            session.command = ["bash", "-l"]
            session.env = ["A=1"]
            var expected = try await insertNew(store, session)
            let changes: [@Sendable (inout Session) -> Void] = [
                { $0.labels["team"] = "b" },
                { $0.env.append("B=2") },
                { $0.command = ["sh"] },
                { $0.containerID = "c-one1" },
                { $0.exitCode = 3 },
                { $0.exitCode = nil },
                { $0.lastActivityAt = Date(timeIntervalSince1970: 1_800_000_123.456) },
                { _ in },
            ]
            for change in changes {
                change(&expected)
                let updated = try await store.update(id: "one1", mutate: change)
                #expect(updated == expected.asStored)
                #expect(try await store.session(id: "one1") == updated)
                expected = updated
            }
            #expect(expected.labels == ["team": "b"] && expected.env == ["A=1", "B=2"] && expected.command == ["sh"])
        }
    }

    @Test("update changes fields without a transition; container ids are unique and findable")
    func updateAndContainerID() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "u1"))
            try await insertNew(store, makeSession(id: "u2"))
            let updated = try await store.update(id: "u1", ifStateIn: [.creating]) { $0.containerID = "abc123" }
            #expect(updated.state == .creating && updated.containerID == "abc123")
            #expect(try await store.session(containerID: "abc123")?.id == "u1")
            #expect(try await store.session(containerID: "zzz") == nil)
            let conflict = await storeError {
                try await store.update(id: "u2", event: NewEvent(type: "session.container")) { $0.containerID = "abc123" }
            }
            #expect(conflict?.code == .conflict)
            #expect(try await store.events(after: 0).count == 2)
            let wrongState = await storeError { try await store.update(id: "u1", ifStateIn: [.running]) { $0.error = "x" } }
            #expect(wrongState?.code == .illegalTransition && wrongState?.actualState == .creating)
        }
    }

    @Test("listing filters by state and by label key or key=value, and pages with a cursor")
    func listing() async throws {
        try await withStore { store, _ in
            let base = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_000))
            for index in 0..<25 {
                // Pairs of sessions share a creation time: the cursor must break ties on id.
                let created = base.addingTimeInterval(Double(index / 2))
                let labels = index % 3 == 0 ? ["team": "core", "tier": "\(index % 2)"] : ["team": "web"]
                try await insertNew(store, makeSession(id: String(format: "s%02d", index), labels: labels, createdAt: created))
            }
            for index in stride(from: 0, to: 25, by: 5) {
                try await store.transition(id: String(format: "s%02d", index), from: [.creating], to: .failed)
            }

            var seen: [String] = []
            var cursor: SessionCursor?
            repeat {
                let page = try await store.sessions(after: cursor, limit: 7)
                #expect(page.sessions.count <= 7)
                seen += page.sessions.map(\.id)
                cursor = try page.next.map { try #require(SessionCursor(token: $0.token)) }
            } while cursor != nil
            #expect(seen == (0..<25).map { String(format: "s%02d", $0) })

            let failed = try await store.sessions(states: [.failed]).sessions.map(\.id)
            #expect(failed == ["s00", "s05", "s10", "s15", "s20"])
            let core = try await store.sessions(label: LabelFilter(key: "team", value: "core")).sessions.map(\.id)
            #expect(core == ["s00", "s03", "s06", "s09", "s12", "s15", "s18", "s21", "s24"])
            let tiered = try await store.sessions(label: LabelFilter(key: "tier")).sessions.count
            #expect(tiered == 9)
            let coreFailed = try await store.sessions(states: [.failed], label: LabelFilter(key: "team", value: "core"))
            #expect(coreFailed.sessions.map(\.id) == ["s00", "s15"])
            #expect(try await store.sessions(states: []).sessions.isEmpty)
            #expect(try await store.sessions(inStates: SessionState.live).count == 20)
            #expect(SessionCursor(token: "garbage") == nil)
        }
    }

    @Test("counts by state agree with the listings, and a state without sessions is absent")
    func countsByState() async throws {
        try await withStore { store, _ in
            for index in 0..<9 { try await insertNew(store, makeSession(id: "c\(index)")) }
            for index in 0..<4 { try await store.transition(id: "c\(index)", from: [.creating], to: .starting) }
            for index in 0..<2 { try await store.transition(id: "c\(index)", from: [.starting], to: .running) }
            try await store.transition(id: "c8", from: [.creating], to: .failed)
            let counts = try await store.sessionCounts()
            #expect(counts == [.creating: 4, .starting: 2, .running: 2, .failed: 1])
            for state in SessionState.allCases {
                #expect(counts[state, default: 0] == (try await store.sessions(inStates: [state]).count))
            }
        }
    }

    @Test("the live sessions' workspaces: every session that may hold a container, in creation order")
    func liveWorkspaceUses() async throws {
        try await withStore { store, _ in
            let base = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_000))
            for index in 0..<5 {
                try await insertNew(store, makeSession(id: "w\(index)", createdAt: base.addingTimeInterval(Double(index))))
            }
            try await store.transition(id: "w1", from: [.creating], to: .starting)
            try await store.transition(id: "w1", from: [.starting], to: .running)
            try await store.transition(id: "w2", from: [.creating], to: .failed)
            try await store.transition(id: "w3", from: [.creating], to: .starting)
            let uses = try await store.liveWorkspaceUses()
            let live = try await store.sessions(inStates: SessionState.live)
            #expect(uses.map(\.sessionID) == ["w0", "w1", "w3", "w4"])
            #expect(uses == live.map { WorkspaceUse(sessionID: $0.id, workspace: $0.workspace, profile: $0.profile) })
        }
    }

    @Test("the reaper's deadlines: every running session with a TTL or an idle timeout, with its times")
    func runningDeadlines() async throws {
        try await withStore { store, _ in
            let base = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_000))
            var limits: [String: (Int?, Int?)] = ["ttl": (60, nil), "idle": (nil, 30), "both": (60, 30), "none": (nil, nil)]
            limits["starting"] = (60, 30)
            for (offset, (id, limit)) in limits.sorted(by: { $0.key < $1.key }).enumerated() {
                var session = makeSession(id: id, createdAt: base.addingTimeInterval(Double(offset)))
                (session.ttlSeconds, session.idleTimeoutSeconds) = limit
                try await insertNew(store, session)
                try await store.transition(id: id, from: [.creating], to: .starting)
                if id != "starting" {
                    try await store.transition(id: id, from: [.starting], to: .running, at: base.addingTimeInterval(100))
                }
            }
            try await store.touchActivity(id: "idle", at: base.addingTimeInterval(200))
            let deadlines = try await store.runningSessionDeadlines()
            #expect(deadlines.map(\.id) == ["both", "idle", "ttl"])
            for deadline in deadlines {
                let session = try #require(try await store.session(id: deadline.id))
                #expect(
                    deadline
                        == SessionDeadlines(
                            id: session.id, ttlSeconds: session.ttlSeconds, idleTimeoutSeconds: session.idleTimeoutSeconds,
                            createdAt: session.createdAt, startedAt: session.startedAt, lastActivityAt: session.lastActivityAt))
            }
            #expect(deadlines.first { $0.id == "idle" }?.lastActivityAt == base.addingTimeInterval(200))
        }
    }

    @Test("touchActivity only moves lastActivityAt forward, in batches, and reports unknown ids")
    func activity() async throws {
        try await withStore { store, _ in
            let created = wholeMilliseconds(Date(timeIntervalSince1970: 1_700_000_000))
            try await insertNew(store, makeSession(id: "a", createdAt: created))
            try await insertNew(store, makeSession(id: "b", createdAt: created))
            #expect(try await store.session(id: "a")?.lastActivityAt == created)
            let later = created.addingTimeInterval(60)
            #expect(try await store.touchActivity(id: "a", at: later))
            #expect(try await store.touchActivity(id: "a", at: created.addingTimeInterval(30)))
            #expect(try await store.session(id: "a")?.lastActivityAt == later)
            #expect(try await store.touchActivity(id: "ghost") == false)
            let found = try await store.touchActivity(["a": later.addingTimeInterval(1), "b": later, "ghost": later])
            #expect(found == 2)
            #expect(try await store.session(id: "b")?.lastActivityAt == later)
            // Activity is not an event.
            #expect(try await store.events(after: 0).count == 2)
        }
    }

    @Test("env values never appear in descriptions, dumps or error messages")
    func envIsRedacted() async throws {
        let session = makeSession(id: "secret", env: ["API_TOKEN=s3cr3t-value"])
        #expect(!session.description.contains("s3cr3t"))
        #expect(session.description.contains("API_TOKEN"))
        var dumped = ""
        dump(session, to: &dumped)
        #expect(!dumped.contains("s3cr3t"))
        try await withStore { store, _ in
            try await insertNew(store, session)
            var clash = makeSession(id: "other", env: ["API_TOKEN=s3cr3t-value"])
            clash.containerName = session.containerName
            let error = await storeError { _ = try await store.insertSession(clash, event: createdEvent()) }
            #expect(error.map { !"\($0)".contains("s3cr3t") } == true)
            // Stored as given.
            #expect(try await store.session(id: "secret")?.env == ["API_TOKEN=s3cr3t-value"])
        }
    }
}
