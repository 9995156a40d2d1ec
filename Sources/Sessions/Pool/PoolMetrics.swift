/// What the warm pool reports for metrics (the daemon maps it to Prometheus).
public protocol PoolMetrics: Sendable {
    /// A session of `profile` came from the pool (`warm`) or had to be launched cold.
    func claimed(profile: String, warm: Bool)
    /// The pool of `profile` now has `ready` containers for a target of `target`.
    func slotsChanged(profile: String, ready: Int, target: Int)
}

public struct NoPoolMetrics: PoolMetrics {
    public init() {}
    public func claimed(profile: String, warm: Bool) {}
    public func slotsChanged(profile: String, ready: Int, target: Int) {}
}
