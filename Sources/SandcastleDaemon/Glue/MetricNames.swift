import Prometheus

/// The names and help texts of the metrics the daemon's glue registers, each spelled once: the
/// registry refuses a second help text for a name it knows. Computed, because the library's
/// descriptor is not `Sendable`.
enum MetricNames {
    // MARK: relay
    static var relayEngineBytes: MetricNameDescriptor {
        .init(metricName: "sandcastle_relay_engine_bytes", unitName: "total", helpText: "Terminal output read from containers.")
    }
    static var relayViewerBytes: MetricNameDescriptor {
        .init(metricName: "sandcastle_relay_viewer_bytes", unitName: "total", helpText: "Terminal output written to viewers.")
    }
    static var relayInputBytes: MetricNameDescriptor {
        .init(metricName: "sandcastle_relay_input_bytes", unitName: "total", helpText: "Viewers' input written to terminals.")
    }
    static var relayViewers: MetricNameDescriptor {
        .init(metricName: "sandcastle_relay_viewers", unitName: "", helpText: "Viewers attached to terminals now.")
    }
    static var relayOverflows: MetricNameDescriptor {
        .init(
            metricName: "sandcastle_relay_viewer_overflows", unitName: "total",
            helpText: "Viewers that fell too far behind their terminal's output.")
    }
    static var relayDroppedInput: MetricNameDescriptor {
        .init(
            metricName: "sandcastle_relay_readonly_input_dropped_bytes", unitName: "total",
            helpText: "Input from read-only viewers, dropped.")
    }
    static var relayReattaches: MetricNameDescriptor {
        .init(metricName: "sandcastle_relay_reattaches", unitName: "total", helpText: "Terminals attached again to their container.")
    }

    // MARK: pool
    static var poolClaims: MetricNameDescriptor {
        .init(metricName: "sandcastle_pool_claims", unitName: "total", helpText: "Launches by profile, warm (a pool slot) or cold.")
    }
    static var poolReady: MetricNameDescriptor {
        .init(metricName: "sandcastle_pool_ready", unitName: "", helpText: "Warm-pool containers ready to claim, by profile.")
    }
    static var poolSize: MetricNameDescriptor {
        .init(metricName: "sandcastle_pool_size", unitName: "", helpText: "Warm-pool target size, by profile.")
    }

    // MARK: workspace
    static var workspaceUsedBytes: MetricNameDescriptor {
        .init(metricName: "sandcastle_workspace_used", unitName: "bytes", helpText: "Bytes used by the workspaces of the profile's live sessions.")
    }
    static var workspaceLimitBytes: MetricNameDescriptor {
        .init(metricName: "sandcastle_workspace_limit", unitName: "bytes", helpText: "Byte limits of the workspaces of the profile's live sessions, summed over those that have one.")
    }
    static var workspaceUsedInodes: MetricNameDescriptor {
        .init(metricName: "sandcastle_workspace_used", unitName: "inodes", helpText: "Inodes used by the workspaces of the profile's live sessions.")
    }
    static var workspaceLimitInodes: MetricNameDescriptor {
        .init(metricName: "sandcastle_workspace_limit", unitName: "inodes", helpText: "Inode limits of the workspaces of the profile's live sessions, summed over those that have one.")
    }
    static var workspaceFull: MetricNameDescriptor {
        .init(metricName: "sandcastle_workspaces_full", unitName: "", helpText: "Workspaces of the profile's live sessions that are at a limit.")
    }

    // MARK: egress
    static var egressDenied: MetricNameDescriptor {
        .init(metricName: "sandcastle_egress_denied", unitName: "total", helpText: "Egress requests refused, by HTTP status.")
    }
    static var egressConnections: MetricNameDescriptor {
        .init(metricName: "sandcastle_egress_connections", unitName: "total", helpText: "Egress tunnels opened.")
    }
    static var egressBytes: MetricNameDescriptor {
        .init(metricName: "sandcastle_egress_bytes", unitName: "total", helpText: "Bytes through egress tunnels, by direction.")
    }
}
