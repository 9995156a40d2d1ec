import AccessControl
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Synchronization

/// The per-request context: who is calling (after authentication) and from where.
public struct SandcastleRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    /// Set by the authentication middleware.
    public var principal: Principal?
    /// The client's address for rate limiting: the IP of a TCP peer, `local` for the unix socket.
    public let clientAddress: String
    /// What a WebSocket route's check granted before the upgrade, for the upgraded connection's
    /// handler (see `addWebSocketRoute`).
    let upgradeGrant: UpgradeGrant

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        upgradeGrant = UpgradeGrant()
        clientAddress = Self.clientAddress(of: source.channel)
    }

    /// The IP of a TCP peer, `local` for the unix socket.
    static func clientAddress(of channel: any Channel) -> String {
        switch channel.remoteAddress {
        case .v4(let address): address.host
        case .v6(let address): address.host
        default: "local"
        }
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

/// A WebSocket route's grant, handed from the check before the upgrade to the upgraded
/// connection's handler. Hummingbird gives the handler the context value the check saw: the copies
/// share this box, so the handler takes the grant instead of checking (and reading the store, and
/// taking from the rate limits) a second time.
final class UpgradeGrant: Sendable {
    private let value = Mutex<(any Sendable)?>(nil)

    func set(_ grant: any Sendable) {
        value.withLock { $0 = grant }
    }

    /// The grant, once.
    func take<Grant>(as type: Grant.Type) -> Grant? {
        value.withLock { stored in
            defer { stored = nil }
            return stored as? Grant
        }
    }
}
