import Prometheus
import Sessions

/// Workspace usage per profile in the daemon's Prometheus registry.
public struct PrometheusWorkspaceMetrics: WorkspaceMetrics {
    let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    public func workspacesSampled(
        profile: String, usedBytes: Int64, limitBytes: Int64, usedInodes: Int64, limitInodes: Int64, full: Int
    ) {
        let labels = [("profile", profile)]
        registry.makeGauge(descriptor: MetricNames.workspaceUsedBytes, labels: labels).set(usedBytes)
        registry.makeGauge(descriptor: MetricNames.workspaceLimitBytes, labels: labels).set(limitBytes)
        registry.makeGauge(descriptor: MetricNames.workspaceUsedInodes, labels: labels).set(usedInodes)
        registry.makeGauge(descriptor: MetricNames.workspaceLimitInodes, labels: labels).set(limitInodes)
        registry.makeGauge(descriptor: MetricNames.workspaceFull, labels: labels).set(Int64(full))
    }
}
