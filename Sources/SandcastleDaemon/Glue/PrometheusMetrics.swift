import Prometheus
import Sessions
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
public struct PrometheusPoolMetrics: PoolMetrics {
    let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func claimed(profile: String, warm: Bool) {
        registry.makeCounter(
            descriptor: MetricNames.poolClaims, labels: [("profile", profile), ("result", warm ? "warm" : "cold")]
        ).increment()
    }

    public func slotsChanged(profile: String, ready: Int, target: Int) {
        registry.makeGauge(descriptor: MetricNames.poolReady, labels: [("profile", profile)]).set(Int64(ready))
        registry.makeGauge(descriptor: MetricNames.poolSize, labels: [("profile", profile)]).set(Int64(target))
    }
}
