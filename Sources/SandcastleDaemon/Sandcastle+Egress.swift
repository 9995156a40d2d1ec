import EgressProxy
import Logging
import NIOCore
import Prometheus
import SandcastleConfig
import ServiceLifecycle
import SessionStore
import Sessions

extension Sandcastle {
    /// The egress proxy from `[egress]`: its limits and its name map (the hosts file, read once
    /// at start).
    static func makeEgressProxy(
        _ configuration: DaemonConfiguration, store: SessionStore, activity: SessionActivity,
        registry: PrometheusCollectorRegistry
    ) throws -> EgressProxy {
        let settings = configuration.egress
        let names: EgressNameMap
        do {
            names = try settings.hostsFile.map { try EgressNameMap.load(file: $0) } ?? EgressNameMap()
        } catch {
            throw DaemonError.startup("[egress] hosts_file: \(error)")
        }
        let logger = Logger(label: "sandcastle.egress")
        return EgressProxy(
            configuration: .init(
                maxConnections: settings.maxConnections, idleTimeout: .seconds(Int64(settings.idleTimeoutSeconds)),
                maxDuration: .seconds(Int64(settings.maxSeconds)),
                connectTimeout: .seconds(Int64(settings.connectTimeoutSeconds)), names: names),
            observer: EgressRecorder(store: store, activity: activity, registry: registry, logger: logger),
            logger: logger)
    }
}

/// Gives running sessions their egress sockets back when the daemon starts (after
/// reconciliation), and closes every socket when it stops, keeping the directories the running
/// containers have bound.
struct EgressService: Service {
    let manager: SessionManager
    let proxy: EgressProxy

    func run() async throws {
        await manager.restoreEgress()
        try? await gracefulShutdown()
        await proxy.shutdown()
    }
}
