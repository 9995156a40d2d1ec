import Testing

@testable import AccessControl

@Suite struct TokenBucketLimiterTests {
    let clock = ManualAccessClock()

    func limiter(capacity: Int = 5, refillPerSecond: Double = 1, maxKeys: Int = 100) throws -> TokenBucketLimiter {
        try TokenBucketLimiter(capacity: capacity, refillPerSecond: refillPerSecond, maxKeys: maxKeys, clock: clock)
    }

    @Test func burstThenLimitedWithRetryAfter() throws {
        let limiter = try limiter(capacity: 5, refillPerSecond: 0.5)
        let burst = (0..<5).map { _ in limiter.take("k") }
        #expect(burst == [4, 3, 2, 1, 0].map { .allowed(remaining: $0) })
        // One token takes 2 s at 0.5/s.
        #expect(limiter.take("k") == .limited(retryAfter: 2))
        // A cost of 3 takes 6 s.
        #expect(limiter.take("k", cost: 3) == .limited(retryAfter: 6))
    }

    @Test func retryAfterRoundsUpAndCountsDown() throws {
        let limiter = try limiter(capacity: 1, refillPerSecond: 0.25)
        #expect(limiter.take("k") == .allowed(remaining: 0))
        #expect(limiter.take("k") == .limited(retryAfter: 4))
        clock.advance(by: .milliseconds(500))
        #expect(limiter.take("k") == .limited(retryAfter: 4))  // 3.5 s, rounded up
        clock.advance(by: .seconds(3))
        #expect(limiter.take("k") == .limited(retryAfter: 1))  // 0.5 s, rounded up to the minimum
        clock.advance(by: .milliseconds(500))
        #expect(limiter.take("k") == .allowed(remaining: 0))
    }

    @Test func retryAfterIsAtLeastOneSecondAtHighRates() throws {
        let limiter = try limiter(capacity: 1, refillPerSecond: 1000)
        #expect(limiter.take("k").isAllowed)
        #expect(limiter.take("k") == .limited(retryAfter: 1))
    }

    @Test func refillsOverTimeUpToCapacity() throws {
        let limiter = try limiter(capacity: 5, refillPerSecond: 1)
        for _ in 0..<5 { #expect(limiter.take("k").isAllowed) }
        #expect(!limiter.take("k").isAllowed)
        clock.advance(by: .seconds(1))
        #expect(limiter.take("k") == .allowed(remaining: 0))
        #expect(!limiter.take("k").isAllowed)
        // Many 100 ms steps add up to whole tokens despite floating point.
        for _ in 0..<20 { clock.advance(by: .milliseconds(100)) }
        #expect(limiter.take("k") == .allowed(remaining: 1))
        #expect(limiter.take("k") == .allowed(remaining: 0))
        // An hour later the bucket holds its capacity, no more.
        clock.advance(by: .seconds(3600))
        #expect((0..<6).map { _ in limiter.take("k").isAllowed } == [true, true, true, true, true, false])
    }

    @Test func costIsClampedToTheCapacity() throws {
        let limiter = try limiter(capacity: 5, refillPerSecond: 1)
        #expect(limiter.take("k", cost: 50) == .allowed(remaining: 0))
        #expect(limiter.take("k", cost: 50) == .limited(retryAfter: 5))
        #expect(limiter.take("other", cost: 0) == .allowed(remaining: 4))
    }

    @Test func anEarlierNowRefillsNothing() throws {
        let limiter = try limiter(capacity: 2, refillPerSecond: 1)
        #expect(limiter.take("k", now: .seconds(100)).isAllowed)
        #expect(limiter.take("k", now: .seconds(100)).isAllowed)
        #expect(limiter.take("k", now: .seconds(50)) == .limited(retryAfter: 1))
        #expect(limiter.take("k", now: .seconds(101)) == .allowed(remaining: 0))
    }

    @Test func aFloodOnOneKeyDoesNotAffectAnother() throws {
        let limiter = try limiter(capacity: 10, refillPerSecond: 1)
        for _ in 0..<10_000 { _ = limiter.take("flood") }
        #expect(limiter.take("flood") == .limited(retryAfter: 1))
        #expect(limiter.take("quiet") == .allowed(remaining: 9))
    }

    @Test func memoryStaysBoundedUnderManyDistinctKeys() throws {
        let limiter = try limiter(capacity: 10, refillPerSecond: 1, maxKeys: 1000)
        let clock = clock
        for index in 0..<100_000 {
            #expect(limiter.take("key-\(index)").isAllowed)
            if index % 1000 == 0 {
                clock.advance(by: .milliseconds(10))
                #expect(limiter.count <= 1000)
            }
        }
        #expect(limiter.count == 1000)
        // The most recent keys are kept, with their state.
        #expect(limiter.contains("key-99999"))
        #expect(!limiter.contains("key-0"))
        #expect(limiter.take("key-99999") == .allowed(remaining: 8))
    }

    @Test func fullBucketsAreEvictedBeforeTheLeastRecentlyUsed() throws {
        let limiter = try limiter(capacity: 10, refillPerSecond: 1, maxKeys: 3)
        // t=0: "drained" empties its bucket (full again at t=10).
        #expect(limiter.take("drained", cost: 10).isAllowed)
        // t=1: "light" takes one token (full again at t=2); t=1.5: "busy" takes 5 (full at t=6.5).
        clock.advance(by: .seconds(1))
        #expect(limiter.take("light").isAllowed)
        clock.advance(by: .milliseconds(500))
        #expect(limiter.take("busy", cost: 5).isAllowed)
        // t=3: a new key. "drained" is least recently used but not full; "light" is full: it goes.
        clock.advance(by: .milliseconds(1500))
        #expect(limiter.take("new").isAllowed)
        #expect(limiter.count == 3)
        #expect(!limiter.contains("light"))
        #expect(limiter.contains("drained"))
        // "drained" still owes: 3 tokens at t=3.
        #expect(limiter.take("drained", cost: 4) == .limited(retryAfter: 1))
    }

    @Test func theLeastRecentlyUsedGoesWhenNoBucketIsFull() throws {
        let limiter = try limiter(capacity: 10, refillPerSecond: 1, maxKeys: 3)
        for key in ["a", "b", "c"] { #expect(limiter.take(key).isAllowed) }
        #expect(limiter.take("a").isAllowed)  // "b" is now least recently used
        #expect(limiter.take("d").isAllowed)
        #expect(limiter.count == 3)
        #expect(!limiter.contains("b"))
        #expect(limiter.contains("a") && limiter.contains("c") && limiter.contains("d"))
    }

    @Test func concurrentTakesNeverExceedCapacity() async throws {
        let limiter = try limiter(capacity: 100, refillPerSecond: 0.001, maxKeys: 10)
        let allowed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    var count = 0
                    for _ in 0..<50 where limiter.take("shared").isAllowed { count += 1 }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 100)
    }

    @Test func concurrentTakesOnManyKeysKeepTheBound() async throws {
        let limiter = try limiter(capacity: 3, refillPerSecond: 1, maxKeys: 50)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    for index in 0..<2000 { _ = limiter.take("t\(task)-\(index % 97)") }
                }
            }
        }
        #expect(limiter.count <= 50)
    }

    @Test func configurationIsValidated() {
        let error = #expect(throws: AccessControlError.self) {
            try TokenBucketLimiter(capacity: 0, refillPerSecond: .nan, maxKeys: 0)
        }
        #expect(error?.code == .invalidLimiterConfiguration)
        #expect(error?.message.contains("capacity is 0") == true)
        #expect(error?.message.contains("refillPerSecond is nan") == true)
        #expect(error?.message.contains("maxKeys is 0") == true)
        #expect(throws: AccessControlError.self) {
            try TokenBucketLimiter(capacity: 1, refillPerSecond: 0, maxKeys: 1)
        }
        #expect(throws: AccessControlError.self) {
            try TokenBucketLimiter(capacity: 1, refillPerSecond: -1, maxKeys: 1)
        }
    }
}

@Suite struct RateLimitsTests {
    let clock = ManualAccessClock()

    func limits(keyCapacity: Int, addressCapacity: Int) throws -> RateLimits {
        try RateLimits(
            perKey: TokenBucketLimiter(capacity: keyCapacity, refillPerSecond: 1, maxKeys: 100, clock: clock),
            perAddress: TokenBucketLimiter(capacity: addressCapacity, refillPerSecond: 0.5, maxKeys: 100, clock: clock))
    }

    @Test func bothMustAllowAndTheDenialSaysWhich() throws {
        let limits = try limits(keyCapacity: 2, addressCapacity: 3)
        #expect(limits.take(apiKeyName: "web", address: "10.0.0.1") == .allowed)
        #expect(limits.take(apiKeyName: "web", address: "10.0.0.1") == .allowed)
        #expect(limits.take(apiKeyName: "web", address: "10.0.0.1") == .limited(.apiKey, retryAfter: 1))
        // The refused request cost the address nothing: one token is left there.
        #expect(limits.perAddress.take("10.0.0.1", cost: 1, now: clock.uptime()) == .allowed(remaining: 0))
        #expect(limits.take(apiKeyName: "other", address: "10.0.0.1") == .limited(.address, retryAfter: 2))
        // The key refused by the address limit was not charged.
        #expect(limits.perKey.contains("other") == false)
        #expect(limits.take(apiKeyName: "other", address: "10.0.0.2") == .allowed)
    }

    @Test func nilSkipsThatLimit() throws {
        let limits = try limits(keyCapacity: 1, addressCapacity: 1)
        #expect(limits.take(apiKeyName: nil, address: "a") == .allowed)
        #expect(limits.take(apiKeyName: nil, address: "a") == .limited(.address, retryAfter: 2))
        #expect(limits.take(apiKeyName: "k", address: nil) == .allowed)
        #expect(limits.take(apiKeyName: "k", address: nil) == .limited(.apiKey, retryAfter: 1))
        #expect(limits.take(apiKeyName: nil, address: nil) == .allowed)
    }
}
