import DockerEngine

/// Exponential back-off with full jitter, for reconnecting to the engine.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    private(set) var attempt = 0

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The ceiling of the next delay: `initial * 2^attempt`, capped at `maximum`.
    public var ceiling: Duration {
        let factor = 1 << min(attempt, 20)
        return min(initial * factor, maximum)
    }

    /// The next delay, uniformly drawn from [ceiling / 2, ceiling]; advances the attempt.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let top = ceiling
        attempt += 1
        let half = top / 2
        let spread = (top - half).milliseconds
        return half + .milliseconds(spread > 0 ? Int64.random(in: 0...spread, using: &generator) : 0)
    }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// Back to the first delay, after a connection that worked.
    public mutating func reset() {
        attempt = 0
    }
}
