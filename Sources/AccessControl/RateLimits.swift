/// The API's two rate limits: one per API key, one per client address. A request must pass both.
///
/// The address limit is checked first (it is the only one for requests whose key is unknown or
/// invalid), then the key limit. A refused request costs nothing: if the key limit refuses after
/// the address limit took tokens, they are put back. The refusal names the limit that refused.
///
/// Note that the web tier calls the API from few addresses on behalf of many users: size the
/// per-address limit for that, or apply it only to requests that fail authentication.
public struct RateLimits: Sendable {
    /// Which limit refused.
    public enum Scope: String, Sendable, Hashable {
        case apiKey = "api-key"
        case address
    }

    /// The outcome of `take`.
    public enum Decision: Sendable, Hashable {
        case allowed
        /// Refused by `scope`; retry after this many seconds (at least 1): the `Retry-After` value.
        case limited(Scope, retryAfter: Int)
    }

    public let perKey: TokenBucketLimiter
    public let perAddress: TokenBucketLimiter

    public init(perKey: TokenBucketLimiter, perAddress: TokenBucketLimiter) {
        self.perKey = perKey
        self.perAddress = perAddress
    }

    /// Takes `cost` from the address's bucket and the key's bucket; a nil skips that limit (no
    /// authenticated key yet, or no address, e.g. on the unix socket).
    ///
    /// - Parameters:
    ///   - apiKeyName: the authenticated `Principal.name`, never the key itself.
    ///   - address: the client address as the server saw it.
    public func take(apiKeyName: String?, address: String?, cost: Int = 1) -> Decision {
        var addressNow: Duration?
        if let address {
            let now = perAddress.uptime
            if case .limited(let retryAfter) = perAddress.take(address, cost: cost, now: now) {
                return .limited(.address, retryAfter: retryAfter)
            }
            addressNow = now
        }
        if let apiKeyName, case .limited(let retryAfter) = perKey.take(apiKeyName, cost: cost) {
            if let address, let addressNow {
                perAddress.refund(address, cost: cost, now: addressNow)
            }
            return .limited(.apiKey, retryAfter: retryAfter)
        }
        return .allowed
    }
}
