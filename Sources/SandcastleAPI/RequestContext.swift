import AccessControl
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// The per-request context: who is calling (after authentication) and from where.
public struct SandcastleRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    /// Set by the authentication middleware.
    public var principal: Principal?
    /// The client's address for rate limiting: the IP of a TCP peer, `local` for the unix socket.
    public let clientAddress: String
    /// The connection (nil outside a request): an upgraded WebSocket's, for handlers that join
    /// its pipeline.
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
        switch source.channel.remoteAddress {
        case .v4(let address): clientAddress = address.host
        case .v6(let address): clientAddress = address.host
        default: clientAddress = "local"
        }
    }

    /// A context for work outside a request: no channel, address `local`.
    init(logger: Logger) {
        coreContext = .init(source: DetachedSource(logger: logger))
        webSocket = .init()
        clientAddress = "local"
        channel = nil
    }

    private struct DetachedSource: RequestContextSource {
        let logger: Logger
    }

    /// The caller, or 401.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw APIError.unauthenticated }
        return principal
    }

    /// The caller when allowed `permission`, or 401/403.
    @discardableResult
    func require(_ permission: Permission) throws -> Principal {
        let principal = try requirePrincipal()
        guard principal.permits(permission) else {
            throw APIError.forbidden("the key \(principal.name) (\(principal.role.rawValue)) lacks \(permission.rawValue)")
        }
        return principal
    }
}
