import Foundation
import GRDB
import JSONText

/// Mapping between `Session`/`Event` and their rows. Written by hand rather than through GRDB's
/// record protocols so that the public types do not carry GRDB conformances, and so that every
/// column's encoding (milliseconds, JSON text) is visible in one place.
///
/// A session's columns are read and written by position, in `SessionColumn` order: every read
/// selects them by name in that order (never `SELECT *`, whose order is the table's), so a value's
/// index is known without looking its column's name up.
enum SessionColumn: Int, CaseIterable {
    case id, labels, owner, profile, image, command, env, workspace, workspaceUID
    case containerName, containerID, state, exitCode, exitReason, error, requestHash
    case daemonInstance, createdAt, startedAt, finishedAt, lastActivityAt, ttlSeconds
    case idleTimeoutSeconds, poolSlot

    /// The column's name in SQL: the case's own.
    var name: String { Self.names[rawValue] }

    static let names = allCases.map { "\($0)" }
}

/// A session as read from its row, with the row's values in `SessionColumn` order: what an update
/// compares the changed session with, to write only the columns that differ.
struct StoredSession: Sendable {
    var session: Session
    var values: [DatabaseValue]

    /// `session` as its row `values` hold it: decoded from the row, or as the write that wrote
    /// `values` (`session.columnValues()`) returned it (`asStored`).
    init(session: Session, values: [DatabaseValue]) {
        self.session = session
        self.values = values
    }
}

extension Session {
    /// Every column, in `SessionColumn` order, as a `SELECT` names them.
    static let columns = SessionColumn.names.joined(separator: ", ")

    /// `SELECT <every column, in SessionColumn order> FROM session`; add the `WHERE`.
    static let selectSQL = "SELECT \(columns) FROM session"

    /// `INSERT INTO session (...) VALUES (?, ...)`, doing nothing when the id is taken.
    static let insertSQL: String = {
        let values = Array(repeating: "?", count: SessionColumn.allCases.count).joined(separator: ", ")
        return "INSERT INTO session (\(SessionColumn.names.joined(separator: ", "))) VALUES (\(values)) "
            + "ON CONFLICT (id) DO NOTHING"
    }()

    /// Every column's value, in `SessionColumn` order: the arguments of `insertSQL`.
    ///
    /// With `stored`, a JSON column whose value equals the stored session's keeps the stored text
    /// instead of being written again (an update compares the texts to find what changed).
    func columnValues(reusing stored: StoredSession? = nil) -> [DatabaseValue] {
        func json<Value: Equatable>(
            _ value: Value, _ storedValue: Value?, _ column: SessionColumn, _ text: (Value) -> String
        ) -> DatabaseValue {
            if let stored, storedValue == value { return stored.values[column.rawValue] }
            return text(value).databaseValue
        }
        let values: [DatabaseValue] = [
            id.databaseValue,
            json(labels, stored?.session.labels, .labels) { JSONText.stringMap($0) },
            owner.databaseValue,
            profile.databaseValue,
            image.databaseValue,
            json(command, stored?.session.command, .command) { JSONText.strings($0) },
            json(env, stored?.session.env, .env) { JSONText.strings($0) },
            workspace.databaseValue,
            workspaceUID.databaseValue,
            containerName.databaseValue,
            containerID.databaseValue,
            state.rawValue.databaseValue,
            exitCode.databaseValue,
            exitReason?.rawValue.databaseValue ?? .null,
            error.databaseValue,
            requestHash.databaseValue,
            daemonInstance.databaseValue,
            Milliseconds(createdAt).databaseValue,
            startedAt.map(Milliseconds.init).databaseValue,
            finishedAt.map(Milliseconds.init).databaseValue,
            Milliseconds(lastActivityAt).databaseValue,
            ttlSeconds.databaseValue,
            idleTimeoutSeconds.databaseValue,
            poolSlot.databaseValue,
        ]
        assert(values.count == SessionColumn.allCases.count, "a session column without its value")
        return values
    }

    /// The session as reading back the row `columnValues()` wrote gives it: the same values, with
    /// every date kept to the millisecond. What a write returns without reading the row again.
    var asStored: Session {
        var session = self
        session.createdAt = Milliseconds(createdAt).date
        session.startedAt = startedAt.map { Milliseconds($0).date }
        session.finishedAt = finishedAt.map { Milliseconds($0).date }
        session.lastActivityAt = Milliseconds(lastActivityAt).date
        return session
    }

    /// Reads the values of a row of `selectSQL`, in `SessionColumn` order.
    init(values: [DatabaseValue]) throws {
        let reader = RowReader(values: values, what: "session")
        let id = try reader.sessionID(at: SessionColumn.id.rawValue)
        let stateText: String = try reader[SessionColumn.state]
        guard let state = SessionState(rawValue: stateText) else {
            throw reader.failure("state", because: "unknown state '\(stateText)'")
        }
        self.init(
            id: id,
            labels: try reader.stringMap(.labels),
            owner: try reader[.owner],
            profile: try reader[.profile],
            image: try reader[.image],
            command: try reader.strings(.command),
            env: try reader.strings(.env),
            workspace: try reader[.workspace],
            workspaceUID: try reader[.workspaceUID],
            containerName: try reader[.containerName],
            containerID: try reader[.containerID],
            state: state,
            exitCode: try reader[.exitCode],
            exitReason: (try reader[.exitReason] as String?).map(ExitReason.init(rawValue:)),
            error: try reader[.error],
            requestHash: try reader[.requestHash],
            daemonInstance: try reader[.daemonInstance],
            createdAt: (try reader[.createdAt] as Milliseconds).date,
            startedAt: (try reader[.startedAt] as Milliseconds?)?.date,
            finishedAt: (try reader[.finishedAt] as Milliseconds?)?.date,
            lastActivityAt: (try reader[.lastActivityAt] as Milliseconds).date,
            ttlSeconds: try reader[.ttlSeconds],
            idleTimeoutSeconds: try reader[.idleTimeoutSeconds],
            poolSlot: try reader[.poolSlot]
        )
    }
}

extension SessionDeadlines {
    /// The columns `SessionStore.runningSessionDeadlines()` selects, in this order.
    static let columns = "id, ttlSeconds, idleTimeoutSeconds, createdAt, startedAt, lastActivityAt"

    /// Reads the values of a row that selected ``columns``.
    init(values: [DatabaseValue]) throws {
        let reader = RowReader(values: values, what: "session")
        let id = try reader.sessionID(at: 0)
        self.init(
            id: id, ttlSeconds: try reader[1, "ttlSeconds"], idleTimeoutSeconds: try reader[2, "idleTimeoutSeconds"],
            createdAt: (try reader[3, "createdAt"] as Milliseconds).date,
            startedAt: (try reader[4, "startedAt"] as Milliseconds?)?.date,
            lastActivityAt: (try reader[5, "lastActivityAt"] as Milliseconds).date)
    }
}

extension WorkspaceUse {
    /// The columns `SessionStore.liveWorkspaceUses()` selects, in this order.
    static let columns = "id, workspace, profile"

    /// Reads the values of a row that selected ``columns``.
    init(values: [DatabaseValue]) throws {
        let reader = RowReader(values: values, what: "session")
        let id = try reader.sessionID(at: 0)
        self.init(sessionID: id, workspace: try reader[1, "workspace"], profile: try reader[2, "profile"])
    }
}

extension Event {
    init(row: Row) throws {
        let reader = RowReader(row: row, what: "event")
        let id: Int64 = try reader["id"]
        reader.subject = "event \(id)"
        self.init(
            id: id,
            sessionID: try reader["sessionID"],
            type: EventType(rawValue: try reader["type"]),
            time: (try reader["time"] as Milliseconds).date,
            payload: try reader["payload"]
        )
    }
}

/// A point in time as unix milliseconds: the stored form of every timestamp.
struct Milliseconds: DatabaseValueConvertible, Hashable, Comparable {
    var value: Int64

    init(_ date: Date) {
        value = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    init(value: Int64) { self.value = value }

    var date: Date { Date(timeIntervalSince1970: Double(value) / 1000) }

    var databaseValue: DatabaseValue { value.databaseValue }

    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Milliseconds? {
        Int64.fromDatabaseValue(dbValue).map(Milliseconds.init(value:))
    }

    static func < (lhs: Milliseconds, rhs: Milliseconds) -> Bool { lhs.value < rhs.value }
}

/// Reads columns of one row, turning decoding failures into `undecodable` errors that name the
/// row and the column but never print values (a session row holds `env`).
///
/// A session's columns are read at their `SessionColumn` positions, and the narrow reads' columns
/// at the positions their queries select them in, from the values the store's cursor read
/// (`cachedColumnValues`). Other rows' columns (a GRDB `Row`) are found by their exact names,
/// indexed once per row: GRDB's lookup by name compares lowercased copies of every column's name.
private final class RowReader {
    let values: [DatabaseValue]
    private let names: [String]
    var subject: String
    private lazy var indexes: [String: Int] = {
        var indexes: [String: Int] = [:]
        indexes.reserveCapacity(names.count)
        for (index, name) in names.enumerated() where indexes[name] == nil { indexes[name] = index }
        return indexes
    }()

    /// A row read by position: its values in the order its query selects them.
    init(values: [DatabaseValue], what: String) {
        self.values = values
        self.names = []
        self.subject = "a stored \(what)"
    }

    /// A row read by column name.
    init(row: Row, what: String) {
        self.values = Array(row.databaseValues)
        self.names = Array(row.columnNames)
        self.subject = "a stored \(what)"
    }

    subscript<Value: StoredColumn>(_ column: String) -> Value {
        get throws {
            guard let index = indexes[column] else { throw failure(column, because: "the row has no such column") }
            return try value(at: index, column)
        }
    }

    /// The value at `index` of a row whose query selects `column` there: no lookup by name.
    subscript<Value: StoredColumn>(_ index: Int, _ column: String) -> Value {
        get throws {
            guard index < values.count else { throw failure(column, because: "the row has no such column") }
            return try value(at: index, column)
        }
    }

    subscript<Value: StoredColumn>(_ column: SessionColumn) -> Value {
        get throws { try self[column.rawValue, column.name] }
    }

    /// The session's id, at `index` of a session row, read first: every later error names it.
    func sessionID(at index: Int) throws -> String {
        let id: String = try self[index, "id"]
        subject = "session '\(id)'"
        return id
    }

    /// The value as stored, taken from the row's values by position, converted as `Value`.
    private func value<Value: StoredColumn>(at index: Int, _ column: String) throws -> Value {
        guard let value = Value.read(values[index]) else {
            throw failure(column, because: "expected \(Value.self)")
        }
        return value
    }

    /// A JSON array of strings (`command`, `env`).
    func strings(_ column: SessionColumn) throws -> [String] {
        let text: String = try self[column]
        do {
            return try JSONText.strings(reading: text)
        } catch {
            throw failure(column.name, because: "its JSON text is not an array of strings (\(error))")
        }
    }

    /// A JSON object of string values (`labels`).
    func stringMap(_ column: SessionColumn) throws -> [String: String] {
        let text: String = try self[column]
        do {
            return try JSONText.stringMap(reading: text)
        } catch {
            throw failure(column.name, because: "its JSON text is not an object of strings (\(error))")
        }
    }

    func failure(_ column: String, because reason: String) -> SessionStoreError {
        SessionStoreError(
            code: .undecodable,
            message: "column '\(column)' of \(subject) cannot be read: \(reason). The database was changed "
                + "outside the daemon or is damaged; run an integrity check.")
    }
}

/// A type `RowReader` reads a column as. GRDB's own conversions of optionals and of its protocol's
/// types are generic code in its module, which looks `Optional`'s metadata up on every call (a
/// third of a session row's decoding, when every column went through them). These conformances
/// are this module's, so each read is specialized where it is made: NULL tested for, the value
/// converted as its concrete type.
protocol StoredColumn {
    /// The stored value as this type; nil when it is not one.
    static func read(_ stored: DatabaseValue) -> Self?
}

extension String: StoredColumn {
    static func read(_ stored: DatabaseValue) -> String? { fromDatabaseValue(stored) }
}

extension Int: StoredColumn {
    static func read(_ stored: DatabaseValue) -> Int? { fromDatabaseValue(stored) }
}

extension Int64: StoredColumn {
    static func read(_ stored: DatabaseValue) -> Int64? { fromDatabaseValue(stored) }
}

extension Milliseconds: StoredColumn {
    static func read(_ stored: DatabaseValue) -> Milliseconds? { fromDatabaseValue(stored) }
}

extension Optional: StoredColumn where Wrapped: StoredColumn {
    /// NULL is `.some(nil)`; any other value must be a `Wrapped`.
    static func read(_ stored: DatabaseValue) -> Wrapped?? {
        stored.isNull ? .some(nil) : Wrapped.read(stored).map(Optional.some)
    }
}
