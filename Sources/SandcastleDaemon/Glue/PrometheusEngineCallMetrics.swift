import DockerEngine
import Prometheus

/// The latency of every Docker engine call, in the daemon's Prometheus registry:
/// `sandcastle_engine_request_duration_seconds{operation="POST /containers/{id}/start",outcome="ok"}`.
///
/// Pass it as the ``DockerClient/Configuration/observer``. The registry hands back the same
/// histogram for the same labels, under its own lock: cheap, thread-safe and non-blocking, as an
/// observer must be.
public struct PrometheusEngineCallMetrics: DockerCallObserver {
    static var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sandcastle", subsystem: "engine", metricName: "request_duration", unitName: "seconds",
            helpText: "Docker engine calls by operation and outcome (ok or the error code)")
    }
    /// `sandcastle_engine_request_duration_seconds`
    public static var name: String { descriptor.name }
    /// From a fast inspect (about 1 ms) to a slow stop (the stop grace plus the kill).
    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30),
    ]
    let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func dockerCallFinished(_ call: DockerCall) {
        registry.makeDurationHistogram(
            descriptor: Self.descriptor, labels: [("operation", call.operation), ("outcome", call.outcome)], buckets: Self.buckets
        ).record(call.duration)
    }
}
