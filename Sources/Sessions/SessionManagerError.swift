import SessionStore

/// Why the session manager refused or could not do something. Each case says what failed, on
/// what, and what to do; the HTTP layer maps `code` to a status.
public struct SessionManagerError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// No such session.
        case notFound
        /// The id is taken by a different request, or the session is in a state that forbids it.
        case conflict
        /// The request breaks the policy (see `problems`).
        case rejected
        /// The store cannot write (disk full, read-only): no new sessions until it can.
        case storageUnavailable
        /// The engine failed or is unreachable.
        case engine
        /// The launch failed after the session was recorded; the session is `failed`.
        case launchFailed
        /// The daemon is shutting down.
        case shuttingDown
    }

    public var code: Code
    public var message: String
    public var sessionID: String?
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, sessionID: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.sessionID = sessionID
        self.underlying = underlying
    }

    public var description: String {
        var text = message
        if let underlying { text += " [\(underlying)]" }
        return text
    }

    static func notFound(_ id: String) -> SessionManagerError {
        SessionManagerError(.notFound, "no session '\(id)'", sessionID: id)
    }

    /// Store failures: the ones that mean "cannot write now" become `storageUnavailable`.
    static func store(_ error: any Error, _ what: String, sessionID: String? = nil) -> any Error {
        guard let storeError = error as? SessionStoreError else { return error }
        switch storeError.code {
        case .notFound:
            return SessionManagerError(.notFound, "\(what): no session '\(sessionID ?? "")'", sessionID: sessionID)
        case .storageFull, .readOnly, .io, .busy, .closed:
            return SessionManagerError(
                .storageUnavailable,
                "\(what): the session store cannot write (\(storeError.code)); running sessions are unaffected. "
                    + "Free disk space or fix the state directory, then retry.",
                sessionID: sessionID, underlying: storeError)
        default:
            return storeError
        }
    }
}
