import Foundation
import GRDB

/// The result of `insertSession`: idempotent creation on a client-supplied id.
public enum InsertResult: Sendable, Equatable {
    /// The session was new; it and its `session.created` event are committed.
    case inserted(Session)
    /// A session with that id already existed; nothing was written. Compare its `requestHash`
    /// with the new request's: equal means a retry of the same request (answer with this
    /// session), different means a conflicting reuse of the id.
    case existing(Session)

    /// The stored session, whichever case.
    public var session: Session {
        switch self {
        case .inserted(let session), .existing(let session): session
        }
    }
}

/// Keeps the sessions that carry a label (with any value when `value` is `nil`).
public struct LabelFilter: Sendable, Hashable {
    public var key: String
    public var value: String?

    public init(key: String, value: String? = nil) {
        self.key = key
        self.value = value
    }
}

/// Where a listing continues: after the session with this creation time and id. Listings are in
/// creation order (`createdAt`, then `id`), so a cursor stays valid while sessions are added.
public struct SessionCursor: Sendable, Hashable {
    var createdAt: Milliseconds
    var id: String

    init(after session: Session) {
        createdAt = Milliseconds(session.createdAt)
        id = session.id
    }

    /// An opaque string for APIs (`?cursor=`): `<createdAt ms>.<id>`.
    public var token: String { "\(createdAt.value).\(id)" }

    /// Parses `token`; `nil` when malformed.
    public init?(token: String) {
        guard let dot = token.firstIndex(of: "."), let millis = Int64(token[..<dot]) else { return nil }
        let id = String(token[token.index(after: dot)...])
        guard !id.isEmpty else { return nil }
        self.createdAt = Milliseconds(value: millis)
        self.id = id
    }
}

/// A running session's limits and the times they are measured from (``SessionStore/runningSessionDeadlines()``).
public struct SessionDeadlines: Sendable, Equatable {
    public var id: String
    public var ttlSeconds: Int?
    public var idleTimeoutSeconds: Int?
    public var createdAt: Date
    public var startedAt: Date?
    public var lastActivityAt: Date

    public init(
        id: String, ttlSeconds: Int?, idleTimeoutSeconds: Int?, createdAt: Date, startedAt: Date?, lastActivityAt: Date
    ) {
        self.id = id
        self.ttlSeconds = ttlSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.lastActivityAt = lastActivityAt
    }
}

/// A live session's workspace and profile (``SessionStore/liveWorkspaceUses()``).
public struct WorkspaceUse: Sendable, Equatable {
    public var sessionID: String
    public var workspace: String
    public var profile: String

    public init(sessionID: String, workspace: String, profile: String) {
        self.sessionID = sessionID
        self.workspace = workspace
        self.profile = profile
    }
}

/// One page of a session listing.
public struct SessionPage: Sendable, Equatable {
    public var sessions: [Session]
    /// Pass it back as `after` for the next page; `nil` on the last page.
    public var next: SessionCursor?
}

extension SessionStore {
    // MARK: Writing sessions

    /// Inserts a new session (state `creating`) and its creation event in one transaction.
    ///
    /// Idempotent on `session.id`: when the id exists, nothing is written and the stored row is
    /// returned as `.existing` for the caller to compare `requestHash`. Concurrent inserts of one
    /// id are serialised by SQLite's single writer: exactly one gets `.inserted`.
    ///
    /// - Parameter event: appended with `sessionID` set to the session's id (usually
    ///   `session.created`); its payload must not contain `env`.
    /// - Throws: `invalidInput` for a state other than `creating`; `conflict`
    ///   when another session already has the container name or container id; `storageFull`...
    public func insertSession(_ session: Session, event: NewEvent) async throws -> InsertResult {
        try Self.checkInsertable(session)
        let values = session.columnValues()
        let written = writtenSessions
        return published(
            try await write("inserting", session: session.id) { db in try Self.insert(db, session, values, event, written) })
    }

    /// As ``insertSession(_:event:)``, with the session's `workspaceUID` taken in the same
    /// transaction: its workspace's uid, allocated from `candidates` when the workspace has none
    /// (see ``workspaceUID(for:candidates:at:)``). An existing id allocates nothing. One write
    /// instead of three (the check for the id, the uid, the insert) on every launch.
    ///
    /// With `poolSlot`, a new session also claims that warm-pool slot in the same transaction (a
    /// compare-and-set: a slot is handed out at most once): the inserted session is `starting` in
    /// the slot's container when the slot was still `ready` with that container, and `creating`
    /// without a slot when it was not.
    public func insertSession<Candidates: Sequence<UInt32> & Sendable>(
        _ session: Session, allocatingUIDFrom candidates: Candidates, event: NewEvent, claimingPoolSlot poolSlot: PoolSlot? = nil
    ) async throws -> InsertResult {
        try Self.checkInsertable(session)
        let written = writtenSessions
        return published(
            try await write("inserting", session: session.id) { db in
                // A new id is the rule: look for it without making a row of all its columns.
                if try db.cachedValue(Bool.self, "SELECT 1 FROM session WHERE id = ?", [session.id]) != nil {
                    return (.existing(try Self.fetchSession(db, id: session.id, operation: "inserting")), nil)
                }
                var session = session
                session.workspaceUID = Int(
                    try Self.workspaceUID(db, for: session.workspace, candidates: candidates, at: session.createdAt))
                // The slot first, so that the session's row is written once, already in the slot's
                // container. Nothing else writes meanwhile: the id is still free.
                if let poolSlot, try Self.claimPoolSlot(db, poolSlot, for: session.id, at: session.createdAt) {
                    session.state = .starting
                    session.containerID = poolSlot.containerID
                    session.containerName = poolSlot.containerName
                    session.poolSlot = poolSlot.id
                }
                return try Self.insert(db, session, session.columnValues(), event, written)
            })
    }

    private static func checkInsertable(_ session: Session) throws {
        guard session.state == .creating else {
            throw SessionStoreError.invalidInput(
                "session '\(session.id)' must be inserted in state creating, not \(session.state).",
                sessionID: session.id)
        }
    }

    private static func insert(
        _ db: Database, _ session: Session, _ values: [DatabaseValue], _ event: NewEvent, _ written: WrittenSessions
    ) throws -> (InsertResult, Event?) {
        try db.cachedExecute(Session.insertSQL, positional: values)
        guard db.changesCount == 1 else { return (.existing(try fetchSession(db, id: session.id, operation: "inserting")), nil) }
        let appended = try insertEvent(db, event, sessionID: session.id)
        let stored = session.asStored
        written.remember(StoredSession(session: stored, values: values))
        return (.inserted(stored), appended)
    }

    private func published(_ written: (InsertResult, Event?)) -> InsertResult {
        if let appended = written.1 {
            eventSignal.published(appended.id)
            logger.debug("session inserted", metadata: ["event.id": "\(appended.id)"])
        }
        return written.0
    }

    /// Moves a session from one of the states in `from` to `to`, applies `mutate`, and appends
    /// `event`, all in one transaction (compare-and-set on the state).
    ///
    /// Before `mutate` runs, the store maintains the lifecycle timestamps: entering `running`
    /// sets `startedAt`; entering `exited` or `failed` sets `finishedAt`; entering `removed` sets
    /// `finishedAt` when unset; entering `starting` from `exited` (a restart) clears `finishedAt`,
    /// `exitCode`, `exitReason` and `error` (the previous run stays in the event log). `mutate`
    /// may change any field but `id` and `state`.
    ///
    /// - Returns: the session as committed.
    /// - Throws: `notFound`; `illegalTransition` (with `actualState`) when the session is not
    ///   in a state of `from` or the transition table forbids the move; `conflict` when
    ///   `mutate` set a container id another session holds; storage errors.
    @discardableResult
    public func transition(
        id: String, from allowed: Set<SessionState>, to target: SessionState, at time: Date = Date(),
        event: NewEvent? = nil, mutate: @escaping @Sendable (inout Session) -> Void = { _ in }
    ) async throws -> Session {
        try await modify(id: id, allowed: allowed, target: target, time: time, event: event, mutate: mutate)
    }

    /// Changes fields of a session without changing its state (for example the container id
    /// once the engine created the container), if its state is in `states`; appends `event`
    /// in the same transaction.
    ///
    /// - Throws: `notFound`; `illegalTransition` when the state is not in `states` (its
    ///   `targetState` is the current state); as `transition` otherwise.
    @discardableResult
    public func update(
        id: String, ifStateIn states: Set<SessionState> = Set(SessionState.allCases), event: NewEvent? = nil,
        mutate: @escaping @Sendable (inout Session) -> Void
    ) async throws -> Session {
        try await modify(id: id, allowed: states, target: nil, time: Date(), event: event, mutate: mutate)
    }

    /// Records activity on a session: `lastActivityAt` becomes `time` unless it is already
    /// later. One small write transaction, without an event.
    ///
    /// Do not call this per keystroke or per output chunk: keep the latest activity time in
    /// memory and flush every few seconds, with `touchActivity(_:)` for many sessions at once.
    ///
    /// - Returns: `false` when there is no such session.
    @discardableResult
    public func touchActivity(id: String, at time: Date = Date()) async throws -> Bool {
        try await touchActivity([id: time]) == 1
    }

    /// Records the activity times of many sessions in one transaction (see
    /// `touchActivity(id:at:)`). Returns how many sessions were found.
    @discardableResult
    public func touchActivity(_ times: [String: Date]) async throws -> Int {
        guard !times.isEmpty else { return 0 }
        let updates = times.map { (id: $0.key, time: Milliseconds($0.value)) }
        return try await write("recording activity", session: times.count == 1 ? times.keys.first : nil) { db in
            let statement = try db.cachedStatement(
                sql: "UPDATE session SET lastActivityAt = max(lastActivityAt, ?) WHERE id = ?")
            var found = 0
            for update in updates {
                try statement.execute(arguments: [update.time, update.id])
                found += db.changesCount
            }
            return found
        }
    }

    // MARK: Reading sessions

    /// The session with this id, or `nil`.
    public func session(id: String) async throws -> Session? {
        try await read("reading", session: id) { db in
            try Self.findSession(db, id: id)
        }
    }

    /// The session whose container has this id, or `nil`.
    public func session(containerID: String) async throws -> Session? {
        try await read("finding the session of container \(containerID.prefix(12))") { db in
            try db.cachedColumnValues(Session.selectSQL + " WHERE containerID = ?", [containerID])
                .map(Session.init(values:))
        }
    }

    /// How many sessions are in each state; a state with none is absent. One query over the
    /// state index, however many sessions there are: no row is read, so the metrics scrape and the
    /// status line cost the same with ten sessions or with ten thousand exited ones.
    public func sessionCounts() async throws -> [SessionState: Int] {
        try await read("counting sessions by state") { db in
            var counts: [SessionState: Int] = [:]
            for row in try db.cachedRows("SELECT state, count(*) FROM session GROUP BY state") {
                // A state this build does not know is counted under none, as listings skip it.
                if let text: String = row[0], let state = SessionState(rawValue: text) { counts[state] = row[1] }
            }
            return counts
        }
    }

    /// The running sessions that have a TTL or an idle timeout, with the times those are measured
    /// from: what the reaper reads on every pass, without the rest of each row (decoding a whole
    /// session, its JSON columns with it, costs many times more).
    public func runningSessionDeadlines() async throws -> [SessionDeadlines] {
        var query = SessionQuery()
        query.add("state = ?", [SessionState.running.rawValue])
        query.add("(ttlSeconds IS NOT NULL OR idleTimeoutSeconds IS NOT NULL)", [])
        let request = query
        return try await read("listing the running sessions' deadlines") { db in
            try request.fetch(db, columns: SessionDeadlines.columns, limit: nil, SessionDeadlines.init(values:))
        }
    }

    /// The workspace and profile of every session that may hold a live container
    /// (`SessionState.live`), in creation order: what the workspaces' reports need, sampled every
    /// few seconds, without decoding the rest of each row.
    public func liveWorkspaceUses() async throws -> [WorkspaceUse] {
        var query = SessionQuery()
        query.restrict(states: SessionState.live)
        let request = query
        return try await read("listing the live sessions' workspaces") { db in
            try request.fetch(db, columns: WorkspaceUse.columns, limit: nil, WorkspaceUse.init(values:))
        }
    }

    /// Every session in one of `states`, in creation order. For reconciliation at start-up
    /// (`SessionState.live`), where the whole set is needed at once.
    public func sessions(inStates states: Set<SessionState>) async throws -> [Session] {
        var query = SessionQuery()
        query.restrict(states: states)
        let request = query
        return try await read("listing sessions by state") { db in try request.fetch(db, limit: nil) }
    }

    /// One page of sessions in creation order, optionally restricted to `states` and to those
    /// carrying a label.
    ///
    /// - Parameters:
    ///   - after: the previous page's `next`; `nil` for the first page.
    ///   - limit: page size, 1 to 1000.
    public func sessions(
        states: Set<SessionState>? = nil, label: LabelFilter? = nil, after cursor: SessionCursor? = nil,
        limit: Int = 100
    ) async throws -> SessionPage {
        guard (1...1000).contains(limit) else {
            throw SessionStoreError.invalidInput("a page of sessions holds 1 to 1000 sessions, not \(limit).")
        }
        var query = SessionQuery()
        if let states { query.restrict(states: states) }
        if let label {
            query.add(
                "EXISTS (SELECT 1 FROM json_each(session.labels) AS label WHERE label.key = ? "
                    + "AND (? IS NULL OR label.value = ?))",
                [label.key, label.value, label.value])
        }
        if let cursor {
            query.add(
                "(createdAt > ? OR (createdAt = ? AND id > ?))", [cursor.createdAt, cursor.createdAt, cursor.id])
        }
        let request = query
        let found = try await read("listing sessions") { db in try request.fetch(db, limit: limit + 1) }
        let page = Array(found.prefix(limit))
        let next = found.count > limit ? page.last.map(SessionCursor.init(after:)) : nil
        return SessionPage(sessions: page, next: next)
    }

    // MARK: Internals

    /// The shared body of `transition` (`target` set) and `update` (`target` nil).
    private func modify(
        id: String, allowed: Set<SessionState>, target: SessionState?, time: Date, event: NewEvent?,
        mutate: @escaping @Sendable (inout Session) -> Void
    ) async throws -> Session {
        let operation = target.map { "moving to \($0)" } ?? "updating"
        let written = writtenSessions
        let (session, appended) = try await write(operation, session: id) { db -> (Session, Event?) in
            guard let stored = try Self.findStoredSession(db, id: id, written: written) else {
                throw SessionStoreError.notFound(id, operation: operation)
            }
            let current = stored.session
            let next = target ?? current.state
            let legal = target.map(current.state.canTransition(to:)) ?? true
            guard allowed.contains(current.state), legal else {
                throw SessionStoreError.illegalTransition(id, from: current.state, to: next, allowed: allowed)
            }
            var updated = current
            if let target { Self.applyLifecycle(to: &updated, entering: target, at: time) }
            mutate(&updated)
            updated.id = id
            updated.state = next
            let values = try Self.update(db, id, stored, to: updated)
            let appended = try event.map { try Self.insertEvent(db, $0, sessionID: id) }
            let session = updated.asStored
            written.remember(StoredSession(session: session, values: values))
            return (session, appended)
        }
        if let appended { eventSignal.published(appended.id) }
        logger.debug(
            "session changed",
            metadata: ["session.id": "\(id)", "session.state": "\(session.state)", "event.id": "\(appended?.id ?? 0)"])
        return session
    }

    /// Lifecycle timestamps maintained by `transition` (documented there).
    static func applyLifecycle(to session: inout Session, entering target: SessionState, at time: Date) {
        switch target {
        case .running:
            session.startedAt = time
        case .exited, .failed:
            session.finishedAt = time
        case .removed:
            if session.finishedAt == nil { session.finishedAt = time }
        case .starting where session.state == .exited:
            session.finishedAt = nil
            session.exitCode = nil
            session.exitReason = nil
            session.error = nil
        case .creating, .starting, .stopping:
            break
        }
    }

    static func fetchSession(_ db: Database, id: String, operation: String) throws -> Session {
        guard let session = try findSession(db, id: id) else { throw SessionStoreError.notFound(id, operation: operation) }
        return session
    }

    /// Session `id`, or nil when there is none.
    static func findSession(_ db: Database, id: String) throws -> Session? {
        try db.cachedColumnValues(Self.selectByID, [id]).map(Session.init(values:))
    }

    /// Session `id` with its row's values, or nil when there is none; the session `written` last
    /// wrote when the row still holds exactly its values, else decoded from the row.
    static func findStoredSession(_ db: Database, id: String, written: WrittenSessions) throws -> StoredSession? {
        guard let values = try db.cachedColumnValues(Self.selectByID, [id]) else { return nil }
        if let session = written.session(id: id, values: values) { return StoredSession(session: session, values: values) }
        return StoredSession(session: try Session(values: values), values: values)
    }

    private static let selectByID = Session.selectSQL + " WHERE id = ?"

    /// Writes the columns of `updated` whose values differ from the `stored` row's, and no other:
    /// a launch's `running` changes two of 24, and SQLite checks only the constraints and indexes
    /// of the columns an `UPDATE` sets (the JSON columns' checks parse their text).
    /// Returns every column's value after the write.
    private static func update(_ db: Database, _ id: String, _ stored: StoredSession, to updated: Session) throws
        -> [DatabaseValue]
    {
        let values = updated.columnValues(reusing: stored)
        var assignments: [String] = []
        var arguments: [DatabaseValue] = []
        for column in SessionColumn.allCases where values[column.rawValue] != stored.values[column.rawValue] {
            assignments.append("\(column.name) = ?")
            arguments.append(values[column.rawValue])
        }
        guard !assignments.isEmpty else { return values }
        arguments.append(id.databaseValue)
        try db.cachedExecute(
            "UPDATE session SET \(assignments.joined(separator: ", ")) WHERE id = ?", positional: arguments)
        return values
    }
}

/// A `SELECT` over `session` built from optional conditions, in creation order.
struct SessionQuery: Sendable {
    private var conditions: [String] = []
    private var arguments = StatementArguments()
    private var empty = false

    mutating func add(_ condition: String, _ values: StatementArguments) {
        conditions.append(condition)
        arguments += values
    }

    mutating func restrict(states: Set<SessionState>) {
        guard !states.isEmpty else {
            empty = true
            return
        }
        let placeholders = Array(repeating: "?", count: states.count).joined(separator: ", ")
        add("state IN (\(placeholders))", StatementArguments(states.map(\.rawValue).sorted()))
    }

    func fetch(_ db: Database, limit: Int?) throws -> [Session] {
        try fetch(db, columns: Session.columns, limit: limit, Session.init(values:))
    }

    /// The matching rows in creation order, `columns` of each (a narrow read names fewer than a
    /// session's), each read by `read` from its values in the order of `columns`.
    func fetch<Value>(
        _ db: Database, columns: String, limit: Int?, _ read: ([DatabaseValue]) throws -> Value
    ) throws -> [Value] {
        if empty { return [] }
        var sql = "SELECT \(columns) FROM session"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY createdAt, id"
        var arguments = self.arguments
        if let limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        // Cached: the texts are few (the conditions' shapes, a placeholder per state, the limit's
        // presence; never a value), and preparing one costs more than reading a page of rows.
        return try db.cachedColumnValueRows(sql, arguments).map(read)
    }
}
