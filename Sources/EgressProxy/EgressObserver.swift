import EgressPolicy

/// What the proxy reports, from its event loops: the daemon turns it into events, metrics and
/// session activity. Implementations must return at once (no blocking, no waiting).
public protocol EgressObserver: Sendable {
    func egressDenied(_ denial: EgressDenial)
    func egressConnected(_ tunnel: EgressTunnelReport)
    func egressClosed(_ tunnel: EgressTunnelReport)
    /// Bytes moved for the session; at most about once a second per tunnel.
    func egressActivity(sessionID: String)
    /// The proxy has stopped: record what is still held back (the default holds nothing back).
    func flush() async
}

extension EgressObserver {
    public func flush() async {}
}

/// A request the proxy refused, with the status and the one-line reason the client got.
public struct EgressDenial: Sendable, Equatable {
    public var sessionID: String
    public var host: String
    public var port: Int
    public var status: Int
    public var reason: String
}

/// A tunnel (a CONNECT, or one plain `http://` request): where to, and when closed, how much and
/// how long.
public struct EgressTunnelReport: Sendable, Equatable {
    public var sessionID: String
    public var host: String
    public var port: Int
    /// The checked address the proxy connected to.
    public var address: String
    /// Client to destination.
    public var bytesUp: Int64 = 0
    /// Destination to client.
    public var bytesDown: Int64 = 0
    public var duration: Duration = .zero
    /// Why it closed when the proxy closed it (`idle`, `max duration`, `session ended`); nil when
    /// an end closed it.
    public var closeReason: String?
}

