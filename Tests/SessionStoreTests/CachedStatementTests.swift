import Foundation
import GRDB
import Testing

@testable import SessionStore

/// The store's own reads and binds of cached statements (`Database+Cached.swift`), which go
/// around GRDB's `Row` and `StatementArguments`: each must leave the statement as GRDB would.
@Suite("Cached statements read by position and bound from values")
struct CachedStatementTests {
    private func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (n INTEGER, x REAL, s TEXT, b BLOB)")
            try db.execute(sql: "INSERT INTO t VALUES (1, 1.5, 'one', x'01'), (2, NULL, 'two', NULL)")
        }
        return queue
    }

    @Test("a row read by position leaves its statement reset, even with rows left unread")
    func readingOneRowOfManyResetsTheStatement() throws {
        let queue = try database()
        try queue.write { db in
            let first = try #require(try db.cachedColumnValues("SELECT n, x, s, b FROM t ORDER BY n", []))
            #expect(first == [1.databaseValue, 1.5.databaseValue, "one".databaseValue, Data([1]).databaseValue])
            // A statement still stepping would lock its table against this.
            try db.execute(sql: "DROP TABLE t")
        }
    }

    @Test("every row of a query, by position, NULLs kept")
    func readingEveryRow() throws {
        let rows = try database().read { db in try db.cachedColumnValueRows("SELECT n, x FROM t ORDER BY n", []) }
        #expect(rows == [[1.databaseValue, 1.5.databaseValue], [2.databaseValue, .null]])
    }

    @Test("a single value: nil for no row and for NULL, an error for a value of another type")
    func readingOneValue() throws {
        let queue = try database()
        let (two, three, null) = try queue.read { db in
            (
                try db.cachedValue(Int64.self, "SELECT n FROM t WHERE s = ?", ["two"]),
                try db.cachedValue(Int64.self, "SELECT n FROM t WHERE s = ?", ["three"]),
                try db.cachedValue(Double.self, "SELECT x FROM t WHERE n = 2")
            )
        }
        #expect(two == 2)
        #expect(three == nil)
        #expect(null == nil)
        #expect(throws: DatabaseError.self) {
            try queue.read { db in try db.cachedValue(Data.self, "SELECT n FROM t WHERE n = 1") }
        }
    }

    @Test("values bound by position are stored as given; a wrong count is refused before anything runs")
    func bindingValues() throws {
        let queue = try database()
        try queue.write { db in
            let values: [DatabaseValue] = [3.databaseValue, .null, "three \u{1F600}".databaseValue, Data([0, 255]).databaseValue]
            try db.cachedExecute("INSERT INTO t VALUES (?, ?, ?, ?)", positional: values)
            #expect(try db.cachedColumnValues("SELECT n, x, s, b FROM t WHERE n = 3", []) == values)

            let error = #expect(throws: DatabaseError.self) {
                try db.cachedExecute("INSERT INTO t VALUES (?, ?, ?, ?)", positional: [4.databaseValue])
            }
            #expect(error?.resultCode == .SQLITE_MISUSE)
            #expect(try db.cachedValue(Int64.self, "SELECT count(*) FROM t") == 3)

            // The statement is reused with other values: nothing of the last binding remains.
            try db.cachedExecute("INSERT INTO t VALUES (?, ?, ?, ?)", positional: [5.databaseValue, .null, .null, .null])
            #expect(try db.cachedColumnValues("SELECT n, x, s, b FROM t WHERE n = 5", []) == [5.databaseValue, .null, .null, .null])
        }
    }
}
