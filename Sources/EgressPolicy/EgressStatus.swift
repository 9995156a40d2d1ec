/// A session's egress counters, since its proxy opened (a daemon restart starts them again).
public struct EgressCounters: Sendable, Equatable, Codable {
    /// Tunnels opened.
    public var connections: Int = 0
    /// Tunnels open now.
    public var active: Int = 0
    /// Requests refused.
    public var denied: Int = 0
    /// Bytes from the session to destinations.
    public var bytesUp: Int64 = 0
    /// Bytes from destinations to the session.
    public var bytesDown: Int64 = 0

    public init() {}
}

/// One session's egress as the daemon shows it.
public struct EgressStatus: Sendable, Equatable {
    public var allow: [String]
    public var counters: EgressCounters

    public init(allow: [String], counters: EgressCounters) {
        self.allow = allow
        self.counters = counters
    }
}
