import Synchronization

/// Token-bucket rate limiting keyed by a string (an API key's name, a client address).
///
/// Each key has a bucket of `capacity` tokens that refills at `refillPerSecond`, measured on the
/// clock's monotonic `uptime()`. A request takes `cost` tokens or is refused with the whole
/// seconds until they will be there. Keys are independent: a flood on one key never delays
/// another (beyond sharing the lock for a few microseconds).
///
/// Memory is bounded: at most `maxKeys` buckets. When a new key arrives and the table is full,
/// every bucket that has refilled to capacity is dropped first (losing nothing: a new bucket starts
/// full); if none is full, the least recently used bucket is dropped, which forgives that key
/// whatever it had used. So with `maxKeys` at least the number of keys active within one refill
/// period (`capacity / refillPerSecond`), no limit is ever forgiven early.
///
/// Concurrency model: all state is in one `Mutex`; `take` holds it for O(1) work, plus a sweep of
/// the table only when a new key arrives at a full table and some bucket may have become full.
public final class TokenBucketLimiter: Sendable {
    /// The outcome of a `take`.
    public enum Decision: Sendable, Hashable {
        /// Allowed; `remaining` whole tokens are left.
        case allowed(remaining: Int)
        /// Refused; retry after this many seconds (rounded up, at least 1): the `Retry-After` value.
        case limited(retryAfter: Int)

        public var isAllowed: Bool {
            if case .allowed = self { true } else { false }
        }
    }

    public let capacity: Int
    public let refillPerSecond: Double
    public let maxKeys: Int
    private let clock: any AccessClock
    private let table: Mutex<BucketTable>

    /// - Parameters:
    ///   - capacity: the burst size, 1 to 1,000,000 tokens.
    ///   - refillPerSecond: the sustained rate, a finite number above zero (0.5 is one token every
    ///     two seconds).
    ///   - maxKeys: the most buckets kept, 1 to 10,000,000.
    ///   - clock: its `uptime()` measures refills.
    /// - Throws: `invalidLimiterConfiguration` naming the value out of range.
    public init(
        capacity: Int, refillPerSecond: Double, maxKeys: Int, clock: any AccessClock = SystemAccessClock()
    ) throws(AccessControlError) {
        var problems: [String] = []
        if !(1...1_000_000).contains(capacity) { problems.append("capacity is \(capacity); it must be 1 to 1000000") }
        if !(refillPerSecond.isFinite && refillPerSecond > 0) {
            problems.append("refillPerSecond is \(refillPerSecond); it must be a finite number above 0")
        }
        if !(1...10_000_000).contains(maxKeys) { problems.append("maxKeys is \(maxKeys); it must be 1 to 10000000") }
        guard problems.isEmpty else {
            throw AccessControlError(
                code: .invalidLimiterConfiguration,
                message: "rate limiter refused: " + problems.joined(separator: "; ") + ".")
        }
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        self.maxKeys = maxKeys
        self.clock = clock
        self.table = Mutex(
            BucketTable(capacity: Double(capacity), refillPerSecond: refillPerSecond, maxKeys: maxKeys))
    }

    /// Takes `cost` tokens from `key`'s bucket now (by the clock's `uptime()`).
    ///
    /// `cost` is clamped to `1...capacity`: a cost above the capacity could never be paid, so it
    /// asks for a full bucket instead.
    public func take(_ key: String, cost: Int = 1) -> Decision {
        take(key, cost: cost, now: clock.uptime())
    }

    /// Takes `cost` tokens from `key`'s bucket at `now`, a reading of the clock's `uptime()`.
    /// A `now` earlier than a bucket's last use refills nothing.
    public func take(_ key: String, cost: Int = 1, now: Duration) -> Decision {
        let cost = Double(min(max(cost, 1), capacity))
        let seconds = now.seconds
        return table.withLock { $0.take(key, cost: cost, now: seconds) }
    }

    /// Puts back tokens a `take` took, when the request was refused elsewhere after all.
    func refund(_ key: String, cost: Int, now: Duration) {
        let cost = Double(min(max(cost, 1), capacity))
        let seconds = now.seconds
        table.withLock { $0.refund(key, cost: cost, now: seconds) }
    }

    /// The number of buckets held: never more than `maxKeys`.
    public var count: Int { table.withLock { $0.count } }

    /// Whether `key` has a bucket.
    func contains(_ key: String) -> Bool { table.withLock { $0.contains(key) } }

    var uptime: Duration { clock.uptime() }
}
