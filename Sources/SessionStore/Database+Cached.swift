import GRDB

/// The store's statements are few and run again and again (several per launch): prepared once per
/// connection and kept, rather than parsed and authorized by SQLite on every call.
extension Database {
    func cachedExecute(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    func cachedRow(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedRows(_ sql: String, _ arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    func cachedValue<Value: DatabaseValueConvertible & StatementColumnConvertible>(
        _ type: Value.Type, _ sql: String, _ arguments: StatementArguments = StatementArguments()
    ) throws -> Value? {
        try Value.fetchOne(cachedStatement(sql: sql), arguments: arguments)
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

extension StatementArguments {
    /// Positional arguments from values already converted. Through GRDB's initializer of optional
    /// existentials: its generic one maps each value with a key path, which in GRDB's own module,
    /// unspecialized, cost about 2,000 instructions per value (48,000 per session row).
    init(positional values: [DatabaseValue]) {
        self.init(values.map { $0 as (any DatabaseValueConvertible)? })
    }
}
