import Foundation
import GRDB

/// Mapping between `Session`/`Event` and their rows. Written by hand rather than through GRDB's
/// record protocols so that the public types do not carry GRDB conformances, and so that every
/// column's encoding (milliseconds, JSON text) is visible in one place.
extension Session {
    static let columnNames = [
        "id", "labels", "owner", "profile", "image", "command", "env", "workspace", "workspaceUID",
        "containerName", "containerID", "state", "exitCode", "exitReason", "error", "requestHash",
        "daemonInstance", "createdAt", "startedAt", "finishedAt", "lastActivityAt", "ttlSeconds",
        "idleTimeoutSeconds", "poolSlot",
    ]

    /// `INSERT INTO session (...) VALUES (:id, ...)`, doing nothing when the id is taken.
    static let insertSQL: String = {
        let columns = columnNames.joined(separator: ", ")
        let values = columnNames.map { ":\($0)" }.joined(separator: ", ")
        return "INSERT INTO session (\(columns)) VALUES (\(values)) ON CONFLICT (id) DO NOTHING"
    }()

    /// `UPDATE session SET every column but id WHERE id = :id`.
    static let updateSQL: String = {
        let assignments = columnNames.filter { $0 != "id" }.map { "\($0) = :\($0)" }.joined(separator: ", ")
        return "UPDATE session SET \(assignments) WHERE id = :id"
    }()

    /// Named arguments for `insertSQL` and `updateSQL`.
    func statementArguments() throws -> StatementArguments {
        let values: [String: (any DatabaseValueConvertible)?] = [
            "id": id,
            "labels": try JSONCoding.text(labels),
            "owner": owner,
            "profile": profile,
            "image": image,
            "command": try JSONCoding.text(command),
            "env": try JSONCoding.text(env),
            "workspace": workspace,
            "workspaceUID": workspaceUID,
            "containerName": containerName,
            "containerID": containerID,
            "state": state.rawValue,
            "exitCode": exitCode,
            "exitReason": exitReason?.rawValue,
            "error": error,
            "requestHash": requestHash,
            "daemonInstance": daemonInstance,
            "createdAt": Milliseconds(createdAt),
            "startedAt": startedAt.map(Milliseconds.init),
            "finishedAt": finishedAt.map(Milliseconds.init),
            "lastActivityAt": Milliseconds(lastActivityAt),
            "ttlSeconds": ttlSeconds,
            "idleTimeoutSeconds": idleTimeoutSeconds,
            "poolSlot": poolSlot,
        ]
        return StatementArguments(values)
    }

    /// The session as reading back the row `statementArguments()` wrote gives it: the same
    /// values, with every date kept to the millisecond. What a write returns without reading
    /// the row again.
    var asStored: Session {
        var session = self
        session.createdAt = Milliseconds(createdAt).date
        session.startedAt = startedAt.map { Milliseconds($0).date }
        session.finishedAt = finishedAt.map { Milliseconds($0).date }
        session.lastActivityAt = Milliseconds(lastActivityAt).date
        return session
    }

    init(row: Row) throws {
        let reader = RowReader(row: row, what: "session")
        let id: String = try reader["id"]
        reader.subject = "session '\(id)'"
        let stateText: String = try reader["state"]
        guard let state = SessionState(rawValue: stateText) else {
            throw reader.failure("state", because: "unknown state '\(stateText)'")
        }
        self.init(
            id: id,
            labels: try reader.json("labels"),
            owner: try reader["owner"],
            profile: try reader["profile"],
            image: try reader["image"],
            command: try reader.json("command"),
            env: try reader.json("env"),
            workspace: try reader["workspace"],
            workspaceUID: try reader["workspaceUID"],
            containerName: try reader["containerName"],
            containerID: try reader["containerID"],
            state: state,
            exitCode: try reader["exitCode"],
            exitReason: (try reader["exitReason"] as String?).map(ExitReason.init(rawValue:)),
            error: try reader["error"],
            requestHash: try reader["requestHash"],
            daemonInstance: try reader["daemonInstance"],
            createdAt: (try reader["createdAt"] as Milliseconds).date,
            startedAt: (try reader["startedAt"] as Milliseconds?)?.date,
            finishedAt: (try reader["finishedAt"] as Milliseconds?)?.date,
            lastActivityAt: (try reader["lastActivityAt"] as Milliseconds).date,
            ttlSeconds: try reader["ttlSeconds"],
            idleTimeoutSeconds: try reader["idleTimeoutSeconds"],
            poolSlot: try reader["poolSlot"]
        )
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
/// Columns are found by their exact names, indexed once per row: GRDB's lookup by name compares
/// lowercased copies of every column's name, which for a session's 24 columns made hundreds of
/// string copies per row read.
private final class RowReader {
    let row: Row
    var subject: String
    private let indexes: [String: Int]

    init(row: Row, what: String) {
        self.row = row
        self.subject = "a stored \(what)"
        var indexes: [String: Int] = [:]
        indexes.reserveCapacity(row.count)
        for (index, name) in row.columnNames.enumerated() where indexes[name] == nil { indexes[name] = index }
        self.indexes = indexes
    }

    subscript<Value: DatabaseValueConvertible>(_ column: String) -> Value {
        get throws {
            guard let index = indexes[column] else { throw failure(column, because: "the row has no such column") }
            do {
                return try row.decode(Value.self, atIndex: index)
            } catch {
                throw failure(column, because: "expected \(Value.self)")
            }
        }
    }

    func json<Value: Decodable>(_ column: String) throws -> Value {
        let text: String = try self[column]
        do {
            return try JSONCoding.decoder.decode(Value.self, from: Data(text.utf8))
        } catch {
            throw failure(column, because: "its JSON text does not decode as \(Value.self)")
        }
    }

    func failure(_ column: String, because reason: String) -> SessionStoreError {
        SessionStoreError(
            code: .undecodable,
            message: "column '\(column)' of \(subject) cannot be read: \(reason). The database was changed "
                + "outside the daemon or is damaged; run an integrity check.")
    }
}
