import Prometheus
import Sessions
import Synchronization
import TerminalRelay

// The Prometheus side of the metrics seams that the relay and the warm pool report through.

/// The relay's counters in the daemon's Prometheus registry.
public struct PrometheusRelayMetrics: RelayMetrics {
    let engineBytes: Counter
    let viewerBytes: Counter
    let inputBytes: Counter
    let viewers: Gauge
    let overflows: Counter
    let droppedInput: Counter
    let reattaches: Counter

    public init(registry: PrometheusCollectorRegistry) {
        engineBytes = registry.makeCounter(descriptor: MetricNames.relayEngineBytes)
        viewerBytes = registry.makeCounter(descriptor: MetricNames.relayViewerBytes)
        inputBytes = registry.makeCounter(descriptor: MetricNames.relayInputBytes)
        viewers = registry.makeGauge(descriptor: MetricNames.relayViewers)
        overflows = registry.makeCounter(descriptor: MetricNames.relayOverflows)
        droppedInput = registry.makeCounter(descriptor: MetricNames.relayDroppedInput)
        reattaches = registry.makeCounter(descriptor: MetricNames.relayReattaches)
    }

    public func engineBytesReceived(_ bytes: Int) { engineBytes.increment(by: Int64(bytes)) }
    public func viewerBytesDelivered(_ bytes: Int) { viewerBytes.increment(by: Int64(bytes)) }
    public func inputBytesForwarded(_ bytes: Int) { inputBytes.increment(by: Int64(bytes)) }
    public func viewersChanged(by delta: Int) { viewers.increment(by: Double(delta)) }
    public func viewerOverflowed() { overflows.increment() }
    public func readOnlyInputDropped(bytes: Int) { droppedInput.increment(by: Int64(bytes)) }
    public func reattached() { reattaches.increment() }
}

/// The pool's metrics in the daemon's Prometheus registry: claims by result (`warm` or `cold`),
/// and ready containers and target size per profile.
///
/// Each profile's four metrics are looked up in the registry once, at its first event, and kept.
/// Looking them up at every event (the registry's lock, the name joined and checked, the labels
/// hashed) would cost each warm launch about 23,000 instructions: one claim, two gauges. Profiles
/// come from the operator's policy directory, so the table stays small.
public final class PrometheusPoolMetrics: PoolMetrics {
    private struct ProfileMetrics {
        let warmClaims: Counter
        let coldClaims: Counter
        let ready: Gauge
        let size: Gauge
    }

    private let registry: PrometheusCollectorRegistry
    private let profiles = Mutex<[String: ProfileMetrics]>([:])

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func claimed(profile: String, warm: Bool) {
        let metrics = metrics(of: profile)
        (warm ? metrics.warmClaims : metrics.coldClaims).increment()
    }

    public func slotsChanged(profile: String, ready: Int, target: Int) {
        let metrics = metrics(of: profile)
        metrics.ready.set(Int64(ready))
        metrics.size.set(Int64(target))
    }

    private func metrics(of profile: String) -> ProfileMetrics {
        if let known = profiles.withLock({ $0[profile] }) { return known }
        // Made outside the lock; a race makes the same metrics twice (the registry hands back
        // the ones it has), and either copy is kept.
        let label = [("profile", profile)]
        let made = ProfileMetrics(
            warmClaims: registry.makeCounter(descriptor: MetricNames.poolClaims, labels: label + [("result", "warm")]),
            coldClaims: registry.makeCounter(descriptor: MetricNames.poolClaims, labels: label + [("result", "cold")]),
            ready: registry.makeGauge(descriptor: MetricNames.poolReady, labels: label),
            size: registry.makeGauge(descriptor: MetricNames.poolSize, labels: label))
        profiles.withLock { $0[profile] = made }
        return made
    }
}
