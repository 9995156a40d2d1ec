/// Why an exec was refused or could not run. The HTTP layer maps `code` to a status.
public struct ExecError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The session runs no container (not running): 409.
        case notRunning
        /// The session already runs as many execs as it may: 429.
        case tooManyExecs
        /// The request is malformed (empty command, timeout out of range): 422.
        case invalid
        /// This daemon's engine has no exec API (an in-memory engine): 501.
        case unsupported
        /// The engine failed: 502.
        case engine
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
