/// Why the warm pool could not do something: what failed, on what, and what to do.
public struct PoolError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// A mount, unmount or directory operation on the host failed.
        case mount
        /// A pool container could not be created, verified, started or made ready.
        case container
        /// The claim could not be delivered to the gate.
        case claim
        /// The configuration (profile, image, gate, pool root) is unusable.
        case configuration
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
