import Foundation

/// Where the manager reads the time: the seam that lets tests move time for TTL and idle reaping.
public protocol SessionClock: Sendable {
    func now() -> Date
}

/// The system's wall clock.
public struct SystemSessionClock: SessionClock {
    public init() {}
    public func now() -> Date { Date() }
}
