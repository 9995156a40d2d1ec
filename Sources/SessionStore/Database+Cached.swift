import GRDB
import GRDBSQLite

/// The store's statements are few and run again and again (several per launch): prepared once per
/// connection and kept, rather than parsed and authorized by SQLite on every call.
extension Database {
    func cachedExecute(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// Runs a cached statement with positional `values`, each bound from its own storage.
    ///
    /// GRDB binds only `StatementArguments`, which its initializers build through generic code in
    /// GRDB's own module, unspecialized: about 1,400 instructions a value, 33,000 for a session's
    /// insert, against about 100 for a bind. Binding here leaves GRDB's record of the statement's
    /// arguments empty; it reads that record only to describe the statement in an error.
    func cachedExecute(_ sql: String, positional values: [DatabaseValue]) throws {
        let statement = try cachedStatement(sql: sql)
        let parameters = Int(sqlite3_bind_parameter_count(statement.sqliteStatement))
        guard values.count == parameters else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE, message: "\(values.count) arguments for \(parameters) parameters", sql: sql)
        }
        // Resets the statement and clears its bindings; `execute()` then binds nothing more.
        statement.setUncheckedArguments(StatementArguments())
        for (index, value) in zip(CInt(1)..., values) {
            let code = value.bind(to: statement.sqliteStatement, at: index)
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: sql)
            }
        }
        try statement.execute()
    }

    func cachedRow(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedRows(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    /// The first row of a query, as its values in the order the query selects them; nil when it
    /// has no row. For rows read by position (a session's columns): see `ColumnValuesCursor`.
    func cachedColumnValues(_ sql: String, _ arguments: StatementArguments) throws -> [DatabaseValue]? {
        try ColumnValuesCursor(cachedStatement(sql: sql), arguments).next()
    }

    /// Every row of a query, each as its values in the order the query selects them.
    func cachedColumnValueRows(_ sql: String, _ arguments: StatementArguments) throws -> [[DatabaseValue]] {
        try Array(ColumnValuesCursor(cachedStatement(sql: sql), arguments))
    }

    /// The first column of the first row; nil when there is no row or the value is NULL.
    func cachedValue<Value: DatabaseValueConvertible>(
        _ type: Value.Type, _ sql: String, _ arguments: StatementArguments = StatementArguments()
    ) throws -> Value? {
        guard let value = try cachedColumnValues(sql, arguments)?.first, !value.isNull else { return nil }
        guard let converted = Value.fromDatabaseValue(value) else {
            throw DatabaseError(resultCode: .SQLITE_MISMATCH, message: "the query's value is not a \(Value.self)", sql: sql)
        }
        return converted
    }
}

/// The group commit's transactions and savepoints, begun and ended by the connection's cached
/// statements. GRDB's `inTransaction` and `inSavepoint` parse their `BEGIN`, `COMMIT`, `SAVEPOINT`
/// and `RELEASE` anew on every call: about 20,000 instructions a transaction and 27,000 a savepoint,
/// a tenth of what a launch's store writes cost in all.
extension Database {
    /// Runs `body` in one immediate transaction (as GRDB begins a writer's), committed when it
    /// returns and rolled back when it throws (unless SQLite already rolled it back).
    func cachedTransaction(_ body: () throws -> Void) throws {
        try cachedExecute("BEGIN IMMEDIATE TRANSACTION")
        do {
            try body()
            // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR).
            // The store's writes let every error through, so the body has thrown by then. Were
            // one to catch such an error and go on, its later statements would run outside any
            // transaction (GRDB's `inTransaction` refuses them; this cannot): its abort is
            // reported here, not as COMMIT's "no transaction is active".
            guard isInsideTransaction else {
                throw DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted")
            }
            try cachedExecute("COMMIT TRANSACTION")
        } catch {
            if isInsideTransaction { try? cachedExecute("ROLLBACK TRANSACTION") }
            throw error
        }
    }

    /// Runs `body` in a savepoint of the current transaction: released when it returns, and its
    /// changes undone when it throws, the rest of the transaction kept.
    func cachedSavepoint(_ body: () throws -> Void) throws {
        try cachedExecute("SAVEPOINT write")
        do {
            try body()
            try cachedExecute("RELEASE SAVEPOINT write")
        } catch {
            if isInsideTransaction {
                try? cachedExecute("ROLLBACK TRANSACTION TO SAVEPOINT write")
                try? cachedExecute("RELEASE SAVEPOINT write")
            }
            throw error
        }
    }
}

/// A query's rows, each as the values of its columns in the order the query selects them.
///
/// GRDB's `Row` can be read by column name, so each fetch from a statement indexes the statement's
/// column names by lowercased copies first: about 27,000 instructions for a session's 24 columns,
/// more than reading the row itself, and a launch's `running` transition reads one row. The
/// store reads its session rows by position (`SessionColumn`), so it reads them through this
/// cursor, which builds no such index.
///
/// Like GRDB's own cursors, it binds the arguments when made, resets the statement when it goes
/// away (a statement left mid-step would hold its read transaction open, and one left failed would
/// fail its next use), and is valid only inside the database access that made it.
private final class ColumnValuesCursor: DatabaseCursor {
    typealias Element = [DatabaseValue]
    let _statement: Statement
    var _isDone = false
    private let width: CInt

    init(_ statement: Statement, _ arguments: StatementArguments) throws {
        _statement = statement
        try statement.setArguments(arguments)
        width = CInt(statement.columnCount)
    }

    deinit {
        sqlite3_reset(_statement.sqliteStatement)
    }

    func _element(sqliteStatement: SQLiteStatement) -> [DatabaseValue] {
        var values: [DatabaseValue] = []
        values.reserveCapacity(Int(width))
        for index in 0..<width {
            values.append(DatabaseValue(sqliteStatement: sqliteStatement, index: index))
        }
        return values
    }
}
