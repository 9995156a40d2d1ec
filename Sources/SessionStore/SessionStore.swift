import Foundation
import GRDB
import Logging

/// The persistence layer of the session manager: sessions, their append-only event log, and the
/// checks the daemon's readiness and operators need (writability, integrity, online backup).
///
/// ## Concurrency
/// A `final class` holding a GRDB `DatabasePool` (one writer connection, up to
/// `maximumReaderCount` reader connections, WAL mode so readers never block the writer nor the
/// writer them). Every method is `async`, and the blocking SQLite calls run on serial dispatch
/// queues: writes on GRDB's writer queue (``GroupCommit``), reads on the store's read lanes
/// (``ReadLanes``, one per reader connection). So the store never blocks a thread of Swift's
/// cooperative pool, except in `init` and `close()`, which are synchronous and meant for start-up
/// and shutdown.
///
/// Writes are serialised by SQLite's single writer; each public write method is atomic (its own
/// savepoint), so a session row and the event describing its change commit together or not at
/// all. Writes that arrive together commit together (``GroupCommit``): one fsync for a burst.
///
/// ## Durability
/// `synchronous = FULL` on the writer connection by default (GRDB's WAL default is NORMAL;
/// ``Configuration/synchronous`` chooses). With WAL, NORMAL
/// can never corrupt the database and loses nothing when the daemon crashes, but a power loss may
/// roll back the last commits. Here that would reissue event ids an SSE client has already seen
/// (`Last-Event-ID` resumes would silently skip new events) and forget sessions whose creation the
/// API acknowledged. FULL costs one fsync of the WAL per commit; concurrent writes share a
/// commit (``GroupCommit``) and activity updates are coalesced by callers (`touchActivity`), so
/// the cost stays small even under a burst of warm-pool claims.
public final class SessionStore: Sendable {
    /// How to open a store.
    public struct Configuration: Sendable {
        /// The state directory; created with mode 0700 when missing.
        public var directory: String
        /// The database file's name inside `directory`; created with mode 0600.
        public var fileName: String
        /// How long a write waits for a lock held by another connection before `busy`.
        public var busyTimeout: Duration
        /// A cap on the database file's size (SQLite `max_page_count`), so a flood of events
        /// cannot fill the host's disk: writes that need more pages fail with `storageFull`.
        /// `nil`: no cap but the filesystem's.
        public var maximumSizeBytes: Int64?
        /// Written into the heartbeat row by `checkWritable()`.
        public var daemonInstance: String
        /// Reader connections (WAL readers run concurrently with the writer).
        public var maximumReaderCount: Int
        /// When a commit reaches the disk (see "Durability").
        public var synchronous: Synchronous
        public var logger: Logger

        public init(
            directory: String,
            fileName: String = "sessions.sqlite",
            busyTimeout: Duration = .seconds(5),
            maximumSizeBytes: Int64? = nil,
            daemonInstance: String = "",
            maximumReaderCount: Int = 4,
            synchronous: Synchronous = .full,
            logger: Logger = Logger(label: "sandcastle.session-store")
        ) {
            self.directory = directory
            self.fileName = fileName
            self.busyTimeout = busyTimeout
            self.maximumSizeBytes = maximumSizeBytes
            self.daemonInstance = daemonInstance
            self.maximumReaderCount = maximumReaderCount
            self.synchronous = synchronous
            self.logger = logger
        }
    }

    /// SQLite's `synchronous` on the writer, under WAL.
    public enum Synchronous: String, Sendable, Equatable, CaseIterable {
        /// Every commit fsyncs the WAL: survives a power cut.
        case full
        /// Commits reach the OS, not the disk: survives the daemon's crash (SIGKILL), not a power
        /// cut or a kernel crash, which may roll back the last commits.
        case normal
    }

    /// The database file.
    public let path: String
    public let configuration: Configuration
    let dbPool: DatabasePool
    let groupCommit: GroupCommit
    let readLanes: ReadLanes
    /// Every read and write passes it: `close()` waits for them, and none starts after.
    let accesses = AccessGate()
    let eventSignal: EventSignal
    /// The sessions written last, to skip decoding their rows when a transition reads them back.
    let writtenSessions = WrittenSessions()
    var logger: Logger { configuration.logger }

    /// Opens (creating when needed) the database in `configuration.directory` and brings its
    /// schema up to date. Blocks the calling thread while it opens and migrates: call it at
    /// start-up.
    ///
    /// - Throws: `SessionStoreError`: `incompatibleSchema` when a newer daemon wrote the
    ///   database; `corrupt` when the file is not a database; `io`, `readOnly`, `storageFull`.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        let path = try StateDirectory.prepare(
            directory: configuration.directory, fileName: configuration.fileName, logger: configuration.logger)
        self.path = path
        let busySeconds = configuration.busyTimeout.seconds
        func wrap(_ error: any Error, _ operation: String) -> any Error {
            SessionStoreError.wrapping(
                error, operation: operation, sessionID: nil, path: path, busyTimeout: busySeconds)
        }

        var grdb = GRDB.Configuration()
        grdb.label = "sandcastle.session-store"
        grdb.busyMode = .timeout(busySeconds)
        grdb.foreignKeysEnabled = true
        grdb.maximumReaderCount = max(1, configuration.maximumReaderCount)
        let maximumSize = configuration.maximumSizeBytes
        grdb.prepareDatabase { db in
            if let maximumSize {
                try Self.setMaximumSize(db, bytes: maximumSize)
            }
        }
        do {
            dbPool = try DatabasePool(path: path, configuration: grdb)
            try dbPool.writeWithoutTransaction { db in
                // After DatabasePool.init, which sets NORMAL while enabling WAL. Only the writer
                // commits, so only the writer needs it. See "Durability" above.
                try db.execute(sql: "PRAGMA synchronous = \(configuration.synchronous == .full ? "FULL" : "NORMAL")")
                // Keep the WAL from staying large after a burst (it is reset, not deleted).
                try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            }
        } catch {
            throw wrap(error, "opening the session database")
        }
        let applied: Set<String>
        do {
            applied = try dbPool.read { db in try Schema.migrator.appliedIdentifiers(db) }
            // Refuse before migrating: an older daemon must not write a newer schema's file.
            if try dbPool.read({ db in try Schema.migrator.hasBeenSuperseded(db) }) {
                throw SessionStoreError(
                    code: .incompatibleSchema,
                    message: "the session database at \(path) was written by a newer sandcastled (its schema "
                        + "has migrations this build does not know; this build knows up to "
                        + "\(Schema.currentVersion), the file has \(applied.sorted().joined(separator: ", "))). "
                        + "Run the newer daemon, or restore a backup made by this version.")
            }
            try Schema.migrator.migrate(dbPool)
        } catch {
            throw wrap(error, "migrating the session database")
        }
        let latest: Int64
        do {
            latest = try dbPool.read { db in try Self.latestEventID(db) }
        } catch {
            throw wrap(error, "reading the event log")
        }
        eventSignal = EventSignal(latest: latest)
        groupCommit = GroupCommit(writer: dbPool, accesses: accesses)
        readLanes = ReadLanes(count: grdb.maximumReaderCount, label: "sandcastle.session-store")
        let ran = Schema.migrator.migrations.filter { !applied.contains($0) }
        configuration.logger.info(
            "session store open",
            metadata: [
                "store.path": "\(path)", "store.schema": "\(Schema.currentVersion)",
                "store.migrations_run": "\(ran.joined(separator: ","))", "store.latest_event": "\(latest)",
            ])
    }

    /// Closes every connection. Later calls fail with `closed`, and tasks in `waitForEvents`
    /// are woken to fail the same way. Blocks until running accesses finish.
    public func close() throws {
        eventSignal.close()
        accesses.close()
        do {
            try dbPool.close()
        } catch {
            throw wrapping(error, "closing the session database")
        }
    }

    // MARK: Health

    /// Proves the store takes writes: rewrites the heartbeat row in its own transaction, then
    /// checks that the database has room for new pages under its size cap. Cheap enough for
    /// every `/readyz`.
    ///
    /// - Throws: `storageFull` (the write failed with `SQLITE_FULL`, or the database reached its
    ///   size cap with no free page left), `readOnly`, `io`, `busy`, `corrupt`.
    public func checkWritable(at time: Date = Date()) async throws {
        let instance = configuration.daemonInstance
        let full = try await write("readiness write check") { db in
            try db.cachedExecute(
                """
                INSERT INTO heartbeat (id, at, daemonInstance) VALUES (1, ?, ?)
                ON CONFLICT (id) DO UPDATE SET at = excluded.at, daemonInstance = excluded.daemonInstance
                """,
                [Milliseconds(time), instance])
            let pages = try db.cachedValue(Int64.self, "PRAGMA page_count") ?? 0
            let free = try db.cachedValue(Int64.self, "PRAGMA freelist_count") ?? 0
            let cap = try db.cachedValue(Int64.self, "PRAGMA max_page_count") ?? Int64.max
            return pages - free >= cap ? (pages, cap) : nil
        }
        if let (pages, cap) = full {
            throw SessionStoreError(
                code: .storageFull,
                message: "readiness write check failed: the session database at \(path) has reached its size "
                    + "cap (\(pages) of \(cap) pages used, none free). Raise the store's size limit or prune "
                    + "the event log; reads still work.")
        }
    }

    /// SQLite's `PRAGMA integrity_check`: `["ok"]` when the database is sound, otherwise one line
    /// per problem found (at most 100).
    public func integrityCheck() async throws -> [String] {
        try await read("integrity check") { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check")
        }
    }

    // MARK: Backup

    /// Writes a consistent copy of the live database to `destination` while writers continue.
    ///
    /// Uses SQLite's online backup API from a reader connection: the copy is the snapshot of one
    /// read transaction (WAL lets writers commit meanwhile; they are not in the copy). The copy
    /// is written next to `destination` with mode 0600, fsynced, switched to rollback-journal
    /// mode (one self-contained file), then renamed over `destination`, so a crash never leaves
    /// a half-written file under that name.
    public func backup(to destination: String) async throws {
        let temporary = destination + ".partial-\(SessionID.generate().prefix(8))"
        if eventSignal.isClosed { throw SessionStoreError.closed("backing up the session database") }
        do {
            try StateDirectory.makePrivate(temporary, flags: O_CREAT | O_EXCL)
            try await readOnLane { source in
                let copy = try DatabaseQueue(path: temporary)
                try copy.writeWithoutTransaction { target in
                    try source.backup(to: target)
                    _ = try String.fetchOne(target, sql: "PRAGMA journal_mode = DELETE")
                }
                try copy.close()
            }
            guard rename(temporary, destination) == 0 else {
                throw StateDirectory.systemError("rename the backup into", path: destination)
            }
            try StateDirectory.syncDirectory(containing: destination)
        } catch {
            unlink(temporary)
            throw wrapping(error, "backing up the session database to \(destination)")
        }
        logger.info("session store backed up", metadata: ["store.backup": "\(destination)"])
    }

    /// A consistent snapshot of the database as bytes: made in the state directory with
    /// ``backup(to:)``, read on a read lane (never the cooperative pool), and deleted.
    public func backupData() async throws -> Data {
        let path = configuration.directory + "/backup-\(SessionID.generate().prefix(12)).db"
        defer { unlink(path) }
        try await backup(to: path)
        return try await readLanes.run { try Data(contentsOf: URL(fileURLWithPath: path)) }
    }

    // MARK: Helpers shared by the extensions

    /// One write, atomic and durable when it returns (committed with the writes that arrived
    /// with it: ``GroupCommit``); errors become `SessionStoreError`s naming `operation` and
    /// `sessionID`.
    func write<T: Sendable>(
        _ operation: String, session sessionID: String? = nil, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await mappingErrors(operation, session: sessionID) { try await groupCommit.write(body) }
    }

    /// One read transaction (a consistent snapshot) on a read lane; errors as for `write`.
    func read<T: Sendable>(
        _ operation: String, session sessionID: String? = nil, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await mappingErrors(operation, session: sessionID) { try await readOnLane(body) }
    }

    /// `body` in a read transaction of a reader connection, on a read lane, unless the store is
    /// closing (then ``AccessGate/Closed``).
    private func readOnLane<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let (dbPool, accesses) = (self.dbPool, self.accesses)
        return try await readLanes.run { try accesses.run { try dbPool.read(body) } }
    }

    private func mappingErrors<T>(
        _ operation: String, session sessionID: String?, _ access: () async throws -> T
    ) async throws -> T {
        // GRDB reports use after close as SQLITE_MISUSE with a misleading message; say it plainly.
        if eventSignal.isClosed { throw SessionStoreError.closed(operation) }
        do {
            return try await access()
        } catch {
            throw wrapping(error, operation, session: sessionID)
        }
    }

    func wrapping(_ error: any Error, _ operation: String, session sessionID: String? = nil) -> any Error {
        if error is AccessGate.Closed { return SessionStoreError.closed(operation) }
        return SessionStoreError.wrapping(
            error, operation: operation, sessionID: sessionID, path: path,
            busyTimeout: configuration.busyTimeout.seconds)
    }

    static func setMaximumSize(_ db: Database, bytes: Int64) throws {
        let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        let pages = max(1, bytes / max(1, pageSize))
        // SQLite never sets the cap below the current size; that is what we want.
        _ = try Int64.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
