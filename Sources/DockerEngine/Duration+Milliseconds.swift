extension Duration {
    /// Whole milliseconds, rounded toward zero: for APIs that take a count of milliseconds
    /// (libcurl's timeouts, NIO's `TimeAmount`, the engine's stop timeout).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
