/// A configuration or a request that access control refuses: a bad key list, a short signing key,
/// a TTL that is not positive, limiter settings out of range.
///
/// `message` is a whole sentence for an operator or a client: what is wrong, which entry, and what
/// to do. It never contains a secret (an API key, a signing key). Token verification failures are
/// `AttachTokenError`s instead.
public struct AccessControlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A closed set of failure kinds.
    public enum Code: String, Sendable, Equatable {
        /// The API key list is invalid; `message` lists every entry at fault.
        case invalidKeyring
        /// An API key name is not acceptable (generating a key).
        case invalidKeyName
        /// An attach-token signing key is too short or repeated.
        case invalidSigningKey
        /// A TTL (requested, or the configured maximum) is not at least one second.
        case invalidTTL
        /// A session id cannot be put in an attach token (empty or too long).
        case invalidSessionID
        /// Rate limiter settings out of range.
        case invalidLimiterConfiguration
    }

    public var code: Code
    /// What is wrong and what to do, in one or more sentences.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "access control: \(message)" }
}
