import Foundation
import GRDB

/// The one error type of the session store.
///
/// `message` is a whole sentence for an operator: what failed, on which session, and what to do.
/// Callers switch on `code`. Task cancellation is not wrapped: it surfaces as `CancellationError`.
public struct SessionStoreError: Error, Sendable, CustomStringConvertible {
    /// A closed set of failure kinds.
    public enum Code: String, Sendable, Equatable {
        /// No session with that id (or container id).
        case notFound
        /// The session is not in a state the caller allowed, or the move is not in the
        /// transition table. `actualState` and `targetState` say which.
        case illegalTransition
        /// A uniqueness rule refused the write: a container name or container id already used by
        /// another session.
        case conflict
        /// The database or its filesystem is full (`SQLITE_FULL`). Reads keep working; new
        /// sessions should be refused until space is freed.
        case storageFull
        /// The database cannot be written (`SQLITE_READONLY`): read-only file or mount.
        case readOnly
        /// The file is not a database or its structure is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
        case corrupt
        /// The operating system reported an I/O error, or the file could not be opened or created.
        case io
        /// The database stayed locked past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`).
        case busy
        /// The schema refused a value (a CHECK constraint): a bug in the caller.
        case invalidInput
        /// The database was written by a newer version of the daemon (unknown migrations).
        case incompatibleSchema
        /// A stored value could not be decoded.
        case undecodable
        /// The store was closed (the daemon is shutting down).
        case closed
        /// Any other SQLite failure.
        case database
    }

    public var code: Code
    /// What failed and what to do, in one or two sentences.
    public var message: String
    /// The session the failed operation was about, if any.
    public var sessionID: String?
    /// For `illegalTransition`: the state the session was found in.
    public var actualState: SessionState?
    /// For `illegalTransition`: the state the caller asked for.
    public var targetState: SessionState?
    /// The SQLite (GRDB) or system error behind this one.
    public var underlying: (any Error)?

    public init(
        code: Code, message: String, sessionID: String? = nil, actualState: SessionState? = nil,
        targetState: SessionState? = nil, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.sessionID = sessionID
        self.actualState = actualState
        self.targetState = targetState
        self.underlying = underlying
    }

    public var description: String {
        var text = "session store: \(message)"
        if let underlying { text += " [\(underlying)]" }
        return text
    }

    static func notFound(_ id: String, operation: String) -> SessionStoreError {
        SessionStoreError(
            code: .notFound, message: "\(operation): no session '\(id)'. It was never created in this store.",
            sessionID: id)
    }

    static func illegalTransition(
        _ id: String, from actual: SessionState, to target: SessionState, allowed: Set<SessionState>
    ) -> SessionStoreError {
        let reason: String
        if !allowed.contains(actual) {
            let expected = allowed.map(\.rawValue).sorted().joined(separator: "|")
            reason = "the caller expected it in \(expected.isEmpty ? "no state" : expected)"
        } else {
            reason = "the transition table does not allow \(actual) -> \(target)"
        }
        return SessionStoreError(
            code: .illegalTransition,
            message: "session '\(id)' cannot move from \(actual) to \(target): \(reason). "
                + "Re-read the session and decide again; another actor changed it first.",
            sessionID: id, actualState: actual, targetState: target)
    }

    static func closed(_ operation: String) -> SessionStoreError {
        SessionStoreError(
            code: .closed, message: "\(operation) failed: the session store is closed (the daemon is shutting down).")
    }

    static func invalidInput(_ what: String, sessionID: String? = nil) -> SessionStoreError {
        SessionStoreError(code: .invalidInput, message: what, sessionID: sessionID)
    }

    /// Translates any error thrown inside a database access into a `SessionStoreError`, naming
    /// the operation, the session and the file. `CancellationError` and errors that already are
    /// `SessionStoreError`s pass through unchanged.
    static func wrapping(
        _ error: any Error, operation: String, sessionID: String?, path: String, busyTimeout: Double
    ) -> any Error {
        if error is SessionStoreError || error is CancellationError { return error }
        let subject = sessionID.map { "\(operation) of session '\($0)'" } ?? operation
        guard let dbError = error as? DatabaseError else {
            return SessionStoreError(
                code: .database, message: "\(subject) failed: \(error).", sessionID: sessionID, underlying: error)
        }
        if dbError.resultCode == .SQLITE_INTERRUPT, Task.isCancelled { return CancellationError() }
        let sqliteText = dbError.message ?? "\(dbError.resultCode)"
        let (code, advice): (Code, String) =
            switch dbError.resultCode {
            case .SQLITE_FULL:
                (.storageFull, "the session database at \(path) is full. Free space on its filesystem or raise the "
                    + "store's size limit; reads still work and nothing committed was lost")
            case .SQLITE_READONLY:
                (.readOnly, "the session database at \(path) is read-only. Make the state directory writable "
                    + "by the daemon (check mounts and ReadOnlyPaths=)")
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                (.corrupt, "the session database at \(path) is damaged. Stop the daemon, keep the file for "
                    + "analysis and restore the latest backup")
            case .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH, .SQLITE_PROTOCOL:
                (.io, "the system refused I/O on \(path). Check the disk, its permissions and the kernel log")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                (.busy, "the session database at \(path) stayed locked for more than \(busyTimeout) s. "
                    + "Only one daemon may use a state directory; retry")
            case .SQLITE_CONSTRAINT where dbError.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
                || dbError.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY:
                (.conflict, "another session already uses that value. Pick another id or container name")
            case .SQLITE_CONSTRAINT:
                (.invalidInput, "the schema refused a value. This is a bug in the caller")
            default:
                (.database, "SQLite failed on \(path)")
            }
        return SessionStoreError(
            code: code, message: "\(subject) failed: \(advice) (SQLite: \(sqliteText)).", sessionID: sessionID,
            underlying: dbError)
    }
}
