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
        registry.makeGauge(name: "sandcastle_workspace_used_bytes", labels: labels).set(usedBytes)
        registry.makeGauge(name: "sandcastle_workspace_limit_bytes", labels: labels).set(limitBytes)
        registry.makeGauge(name: "sandcastle_workspace_used_inodes", labels: labels).set(usedInodes)
        registry.makeGauge(name: "sandcastle_workspace_limit_inodes", labels: labels).set(limitInodes)
        registry.makeGauge(name: "sandcastle_workspaces_full", labels: labels).set(Int64(full))
    }
}
