import Foundation
import GRDB
import Synchronization
import Testing

@testable import SessionStore

/// A value shared between test tasks.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}

@Suite("Files, migrations, backup and failure modes", .timeLimit(.minutes(1)))
struct DurabilityTests {
    static func configuration(_ directory: TemporaryDirectory) -> SessionStore.Configuration {
        SessionStore.Configuration(directory: directory.stateDirectory, daemonInstance: "test", logger: quietLogger)
    }

    /// Opens a store in `directory`, runs `body`, closes it.
    static func reopen<T>(
        _ directory: TemporaryDirectory, _ configure: (inout SessionStore.Configuration) -> Void = { _ in },
        _ body: (SessionStore) async throws -> T
    ) async throws -> T {
        var configuration = configuration(directory)
        configure(&configuration)
        let store = try SessionStore(configuration)
        defer { try? store.close() }
        return try await body(store)
    }

    static func schema(_ db: Database) throws -> [String] {
        try String.fetchAll(
            db, sql: "SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master ORDER BY type, name")
    }

    /// Opens with the current store a database that `prepare` wrote as an older daemon would, checks
    /// that its schema is now a new database's, and runs `body` on it.
    static func upgrading(
        _ prepare: (DatabaseQueue) throws -> Void, _ body: (SessionStore) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.stateDirectory, withIntermediateDirectories: true)
        let legacy = try DatabaseQueue(path: directory.stateDirectory + "/sessions.sqlite")
        try prepare(legacy)
        try legacy.close()

        let fresh = try TemporaryDirectory()
        defer { fresh.remove() }
        let freshSchema = try await reopen(fresh) { store in try await store.dbPool.read(schema) }
        try await reopen(directory) { store async throws in
            #expect(try await store.dbPool.read(schema) == freshSchema)
            try await body(store)
        }
    }

    @Test("sessions and events survive closing and reopening; ids continue after the last one")
    func persistedAcrossReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let session = makeSession(id: "keep")
        try await Self.reopen(directory) { store async throws in
            try await insertNew(store, session)
            try await store.transition(id: "keep", from: [.creating], to: .starting, event: NewEvent(type: .sessionStarted))
        }
        try await Self.reopen(directory) { store async throws in
            #expect(try await store.session(id: "keep")?.state == .starting)
            #expect(try await store.events(after: 0).map(\.type) == [.sessionCreated, .sessionStarted])
            #expect(try await store.latestEventID() == 2)
            #expect(try await store.appendEvent(NewEvent(type: .ptyAttached, sessionID: "keep")).id == 3)
        }
    }

    @Test("opening again runs no migration twice and leaves the schema unchanged")
    func migrationsIdempotent() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try await Self.reopen(directory) { store in try await store.dbPool.read(Self.schema) }
        for _ in 0..<3 {
            try await Self.reopen(directory) { store async throws in
                #expect(try await store.dbPool.read(Self.schema) == first)
                let applied = try await store.dbPool.read { db in
                    try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
                }
                #expect(applied == Schema.migrator.migrations)
            }
        }
    }

    @Test("a database written by v1 (frozen fixture with data) opens with the current migrator")
    func v1DatabaseOpens() async throws {
        let url = try #require(Bundle.module.url(forResource: "v1-database", withExtension: "sql", subdirectory: "Fixtures"))
        let script = try String(contentsOf: url, encoding: .utf8)
        try await Self.upgrading({ legacy in try legacy.writeWithoutTransaction { db in try db.execute(sql: script) } }) { store in
            let running = try #require(try await store.session(id: "v1-running"))
            #expect(running.state == .running && running.containerID == "c0ffee" && running.labels == ["team": "core"])
            #expect(running.startedAt == Date(timeIntervalSince1970: 1_700_000_000.25))
            let exited = try #require(try await store.session(id: "v1-exited"))
            #expect(exited.exitCode == 137 && exited.exitReason == .oom && exited.poolSlot == "slot-3")
            #expect(try await store.events(after: 0).map(\.id) == [5, 6, 7])
            // sqlite_sequence said 9: ids 8 and 9 were issued (then pruned) and are not reused.
            #expect(try await store.latestEventID() == 9)
            #expect(try await store.appendEvent(NewEvent(type: .ptyAttached)).id == 10)
            try await store.transition(id: "v1-exited", from: [.exited], to: .removed)
            #expect(try await store.integrityCheck() == ["ok"])
        }
    }

    @Test("a database at v4 keeps its sessions and pool slots through the rebuild of their tables (v5)")
    func v4DatabaseKeepsRowsThroughV5() async throws {
        try await Self.upgrading({ legacy in
            try Schema.migrator.migrate(legacy, upTo: "v4-workspace-projects")
            try legacy.write { db in
            try db.execute(
                sql: """
                    INSERT INTO session (id, labels, owner, profile, image, command, env, workspace, workspaceUID,
                        containerName, containerID, state, requestHash, daemonInstance, createdAt, startedAt,
                        lastActivityAt, poolSlot)
                    VALUES ('v4-warm', '{"team":"core"}', 'key', 'default', 'img', '["sh"]', '["A=1"]', 'ws', 20001,
                        'sandcastle-pool-1', 'c1', 'running', 'h', 'old', 1700000000000, 1700000000250, 1700000000250,
                        'slot-1');
                    INSERT INTO pool_slot (id, profile, image, containerName, containerID, directory, state, sessionID,
                        daemonInstance, createdAt, claimedAt)
                    VALUES ('slot-1', 'default', 'img', 'sandcastle-pool-1', 'c1', '/pool/slot-1', 'claimed', 'v4-warm',
                        'old', 1699999999000, 1700000000000),
                        ('slot-2', 'default', 'img', 'sandcastle-pool-2', 'c2', '/pool/slot-2', 'ready', NULL,
                        'old', 1699999999500, NULL);
                    """)
            }
        }) { store in
            let warm = try #require(try await store.session(id: "v4-warm"))
            #expect(warm.state == .running && warm.containerID == "c1" && warm.poolSlot == "slot-1" && warm.env == ["A=1"])
            #expect(try await store.session(containerID: "c1")?.id == "v4-warm")
            let slots = try await store.poolSlots().sorted { $0.id < $1.id }
            #expect(slots.map(\.id) == ["slot-1", "slot-2"])
            #expect(slots.map(\.state) == [.claimed, .ready] && slots.first?.sessionID == "v4-warm")
            #expect(try await store.poolSlot(sessionID: "v4-warm")?.id == "slot-1")
            #expect(try await store.integrityCheck() == ["ok"])
        }
    }

    @Test("the state checks refuse what is not a state, and a launch's statements build no temporary table for them")
    func stateChecks() async throws {
        try await withStore { store, _ in
            try await insertNew(store, makeSession(id: "chk"))
            for sql in [
                "UPDATE session SET state = 'bogus' WHERE id = 'chk'",
                "UPDATE session SET state = 'Running' WHERE id = 'chk'",
                """
                INSERT INTO pool_slot (id, profile, image, containerName, directory, state, daemonInstance, createdAt)
                VALUES ('s', 'default', 'img', 'sandcastle-pool-s', '/d', 'waiting', 'test', 0)
                """,
            ] {
                let error = await #expect(throws: DatabaseError.self) { try await store.dbPool.write { db in try db.execute(sql: sql) } }
                #expect(error?.resultCode == .SQLITE_CONSTRAINT)
            }
            // SQLite checks `x IN (more than two constants)` through a b-tree it builds every time
            // the statement runs; the checks are comparisons instead (migration v5).
            let statements = [
                Session.insertSQL, "UPDATE session SET state = ?, startedAt = ? WHERE id = ?",
                "UPDATE pool_slot SET state = 'claimed', sessionID = ?, claimedAt = ? WHERE id = ? AND state = 'ready'",
            ]
            for sql in statements {
                let nulls = StatementArguments(Array(repeating: DatabaseValue.null, count: sql.filter { $0 == "?" }.count))
                // On the writer, where the store writes: a reader's program for them leaves the checks out.
                let opcodes = try await store.dbPool.write { db in
                    try Row.fetchAll(db, sql: "EXPLAIN " + sql, arguments: nulls).map { $0["opcode"] as String }
                }
                #expect(opcodes.contains("Insert"), "\(sql)")
                #expect(!opcodes.contains("OpenEphemeral"), "\(sql)")
            }
        }
    }

    @Test("a database with migrations this build does not know is refused, not modified")
    func newerSchemaRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await Self.reopen(directory) { _ in }
        let path = directory.stateDirectory + "/sessions.sqlite"
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v999')") }
        try queue.close()
        let error = await storeError { _ = try SessionStore(Self.configuration(directory)) }
        #expect(error?.code == .incompatibleSchema)
        #expect(error?.message.contains("v999") == true)
    }

    @Test("state directory 0700 when created; database, WAL and shm files 0600, even if the file existed wider")
    func filePermissions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        func mode(_ path: String) throws -> Int {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return try #require(attributes[.posixPermissions] as? Int)
        }
        let file = directory.stateDirectory + "/sessions.sqlite"
        try await Self.reopen(directory) { store async throws in
            try await insertNew(store, makeSession())
            #expect(try mode(directory.stateDirectory) == 0o700)
            for path in [file, file + "-wal", file + "-shm"] {
                #expect(try mode(path) == 0o600, "\(path)")
            }
        }
        #expect(chmod(file, 0o644) == 0)
        try await Self.reopen(directory) { _ async throws in
            #expect(try mode(file) == 0o600)
        }
    }

    @Test("pragmas: WAL, synchronous FULL on the writer, foreign keys on, busy timeout as configured")
    func pragmas() async throws {
        try await withStore(configure: { $0.busyTimeout = .seconds(5) }) { store, _ in
            let values = try await store.dbPool.writeWithoutTransaction { db in
                [
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    try String.fetchOne(db, sql: "PRAGMA synchronous"),
                    try String.fetchOne(db, sql: "PRAGMA foreign_keys"),
                    try String.fetchOne(db, sql: "PRAGMA busy_timeout"),
                ]
            }
            #expect(values == ["wal", "2", "1", "5000"])
        }
    }

    @Test("an online backup taken while writers commit is consistent and passes integrity_check")
    func onlineBackup() async throws {
        try await withStore { store, directory in
            for index in 0..<300 { try await insertNew(store, makeSession(id: "seed\(index)")) }
            let written = Shared(0)
            let stop = Shared(false)
            let windows = try await withThrowingTaskGroup(of: [(Int, Int)].self) { group in
                group.addTask {
                    var index = 0
                    while !stop.value {
                        try await insertNew(store, makeSession(id: "live\(index)"))
                        try await store.transition(id: "live\(index)", from: [.creating], to: .failed)
                        index += 1
                        written.value = index
                    }
                    return []
                }
                group.addTask {
                    // From the writer's first commit on, and until one backup has overlapped a
                    // commit (however the two tasks are scheduled), at least four.
                    while written.value == 0 { try await Task.sleep(for: .milliseconds(5)) }
                    var windows: [(Int, Int)] = []
                    while windows.count < 4 || (!windows.contains { $0.1 > $0.0 } && windows.count < 40) {
                        let round = windows.count
                        let before = written.value
                        try await store.backup(to: directory.path + "/backup-\(round).sqlite")
                        windows.append((before, written.value))
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    stop.value = true
                    return windows
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(windows.count >= 4)
            #expect(windows.contains { $0.1 > $0.0 }, "no write committed while a backup ran")
            for (round, window) in windows.enumerated() {
                let copy = try DatabaseQueue(path: directory.path + "/backup-\(round).sqlite")
                defer { try? copy.close() }
                try await copy.read { db in
                    #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
                    #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "delete")
                    let sessions = try Int.fetchOne(db, sql: "SELECT count(*) FROM session") ?? -1
                    let created = try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE type = 'session.created'") ?? -2
                    let failed = try Int.fetchOne(db, sql: "SELECT count(*) FROM session WHERE state = 'failed'") ?? -1
                    let moves = try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE type != 'session.created'") ?? -2
                    // Each row came with its event, in one transaction: a torn copy would differ.
                    #expect(sessions == created)
                    #expect(moves == 0 && failed <= sessions - 300)
                    #expect((300 + window.0)...(300 + window.1 + 1) ~= sessions)
                }
                let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/backup-\(round).sqlite")
                #expect(attributes[.posixPermissions] as? Int == 0o600)
            }
            #expect(try await store.integrityCheck() == ["ok"])
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".partial-") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test("a full store refuses writes with storageFull, keeps serving reads, and recovers intact")
    func diskFull() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bigLabels = ["note": String(repeating: "x", count: 2000)]
        var lastStored = ""
        try await Self.reopen(directory, { $0.maximumSizeBytes = 256 * 1024 }) { store async throws in
            var failure: SessionStoreError?
            for index in 0..<1000 {
                let id = "fill\(index)"
                do {
                    try await insertNew(store, makeSession(id: id, labels: bigLabels))
                    lastStored = id
                } catch let error as SessionStoreError {
                    failure = error
                    #expect(try await store.session(id: id) == nil, "a failed insert left its row")
                    break
                }
            }
            let error = try #require(failure, "the size cap was never reached")
            #expect(error.code == .storageFull)
            #expect(error.sessionID != nil && error.message.contains(store.path))

            // Reads keep working while full.
            #expect(try await store.session(id: lastStored)?.labels == bigLabels)
            let count = try await store.sessions(limit: 1000).sessions.count
            #expect(count > 10)
            #expect(try await store.events(after: 0, limit: 1000).count == count)
            #expect(await storeErrorCode { try await store.checkWritable() } == .storageFull)
            #expect(await storeErrorCode {
                try await store.appendEvent(NewEvent(type: .ptyAttached, payload: #"{"pad":"\#(String(repeating: "y", count: 8000))"}"#))
            } == .storageFull)
            #expect(try await store.integrityCheck() == ["ok"])

            // Lift the cap on the live store: writes work again.
            try await store.dbPool.writeWithoutTransaction { db in
                _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = 1073741823")
            }
            try await store.checkWritable()
            try await insertNew(store, makeSession(id: "after-lift", labels: bigLabels))
        }
        // And reopened without a cap, as an operator raising the limit would.
        try await Self.reopen(directory) { store async throws in
            #expect(try await store.integrityCheck() == ["ok"])
            try await store.checkWritable()
            try await insertNew(store, makeSession(id: "after-reopen", labels: bigLabels))
            #expect(try await store.session(id: lastStored) != nil)
        }
    }

    @Test("a lock held by another connection past the busy timeout gives busy; WAL reads go on meanwhile")
    func busy() async throws {
        try await withStore(configure: { $0.busyTimeout = .milliseconds(200) }) { store, _ in
            try await insertNew(store, makeSession(id: "before"))
            var configuration = GRDB.Configuration()
            configuration.allowsUnsafeTransactions = true
            let intruder = try DatabaseQueue(path: store.path, configuration: configuration)
            defer { try? intruder.close() }
            try await intruder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let started = ContinuousClock.now
            let error = await storeError { try await insertNew(store, makeSession(id: "blocked")) }
            let waited = ContinuousClock.now - started
            #expect(error?.code == .busy)
            #expect(waited >= .milliseconds(150) && waited < .seconds(30))
            #expect(try await store.session(id: "before") != nil)
            try await intruder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
            try await insertNew(store, makeSession(id: "unblocked"))
        }
    }

    @Test("a connection that may not write gives readOnly, from writes and from checkWritable")
    func readOnly() async throws {
        try await withStore { store, _ in
            try await store.dbPool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = ON") }
            #expect(await storeErrorCode { try await insertNew(store, makeSession()) } == .readOnly)
            #expect(await storeErrorCode { try await store.checkWritable() } == .readOnly)
            try await store.dbPool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = OFF") }
            try await store.checkWritable()
        }
    }

    @Test("a file that is not a database is corrupt; a symlinked database or a state path that is a file is io")
    func corruptAndUnusable() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.stateDirectory, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x5a, count: 8192)
        #expect(FileManager.default.createFile(atPath: directory.stateDirectory + "/sessions.sqlite", contents: garbage))
        #expect(await storeErrorCode { _ = try SessionStore(Self.configuration(directory)) } == .corrupt)

        // A symlink planted in place of the database is not followed.
        let planted = try TemporaryDirectory()
        defer { planted.remove() }
        try FileManager.default.createDirectory(atPath: planted.stateDirectory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: planted.stateDirectory + "/sessions.sqlite", withDestinationPath: directory.path + "/target")
        #expect(await storeErrorCode { _ = try SessionStore(Self.configuration(planted)) } == .io)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/target"))

        let notADirectory = directory.path + "/plain-file"
        #expect(FileManager.default.createFile(atPath: notADirectory, contents: Data("x".utf8)))
        let configuration = SessionStore.Configuration(directory: notADirectory, logger: quietLogger)
        #expect(await storeErrorCode { _ = try SessionStore(configuration) } == .io)
    }
}
