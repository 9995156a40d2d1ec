import AccessControl
import DockerEngine
import EgressProxy
import Foundation
import Logging
import Prometheus
import SandboxPolicy
import SandcastleAPI
import SandcastleConfig
import ServiceLifecycle
import SessionStore
import Sessions
import TerminalRelay
import Workspaces

/// An engine both the sessions and the terminal relay can use: ``DockerClient`` in the daemon,
/// an in-memory engine in logic tests.
public typealias SandcastleEngine = ContainerEngine & TerminalEngine

/// The composition root: every long-lived part of the daemon, built once, in one order, through
/// initializers. Nothing is set afterwards and no part holds a reference back to the part that
/// built it. `sandcastled`, the API tests and the benchmark's daemon all start from here.
///
/// The order: metrics, engine, store, policies, workspaces, then activity, relay (reporting into
/// the activity), warm pool, session manager (handing sessions to the relay, claiming from the
/// pool), and last the API's dependencies, which see only the manager, relay and pool.
public struct Sandcastle: Sendable {
    public let configuration: DaemonConfiguration
    /// This daemon's identity, kept in the state directory: its containers carry it in a label.
    public let instance: String
    public let store: SessionStore
    /// The engine with Sandcastle's concurrency limit, shared by the manager and the pool.
    public let engine: LimitedEngine
    public let manager: SessionManager
    public let pool: WarmPool
    public let relay: TerminalRelay
    /// The egress proxy: per-session sockets for sessions whose profile lists egress.
    public let egress: EgressProxy
    public let metrics: APIMetrics
    public let api: APIDependencies

    /// What a caller may put in place of the real thing.
    public struct Parts: Sendable {
        /// The engine; nil connects to `configuration.engineEndpoint`, timing every call into the
        /// daemon's metrics.
        public var engine: (any SandcastleEngine)?
        /// How warm-pool slots are mounted.
        public var mounter: any SlotMounter = LinuxSlotMounter()
        /// Whether this process may mount (it kept CAP_SYS_ADMIN and the mount system calls).
        public var canMount = true
        public var clock: any SessionClock = SystemSessionClock()
        /// Between SSE heartbeats on `/v1/events`.
        public var heartbeatInterval: Duration = .seconds(15)

        public init() {}
    }

    /// The background services of the domain, in the order the daemon runs them: the engine's
    /// events, the reaper, the warm pool, and last the WebSocket connections and the relay, which
    /// stop first and in that order: the relay closes every viewer, then each terminal and exec
    /// connection sends its 1001 before the listeners stop (and would close it with 1000).
    public var services: [any Service] {
        [
            EngineEventService(manager: manager), SessionReaper(manager: manager),
            WorkspaceMonitor(manager: manager, metrics: PrometheusWorkspaceMetrics(registry: metrics.registry)), pool,
            EgressService(manager: manager, proxy: egress), api.webSocketConnections, relay,
        ]
    }

    public static func make(
        configuration: DaemonConfiguration, parts: Parts = Parts(), logger: Logger = Logger(label: "sandcastle")
    ) async throws -> Sandcastle {
        try DaemonState.prepare(configuration.stateDirectory)
        try FileManager.default.createDirectory(atPath: configuration.workspaceRoot, withIntermediateDirectories: true)
        let policies: PolicySet
        do {
            policies = try PolicySet.load(directory: configuration.policiesDirectory)
        } catch {
            throw DaemonError.startup("the policies in \(configuration.policiesDirectory) are invalid; refusing to start:\n\(error)")
        }
        let metrics = APIMetrics()
        let baseEngine: any SandcastleEngine
        if let engine = parts.engine {
            baseEngine = engine
        } else {
            do {
                baseEngine = try await DockerClient.connect(
                    .init(endpoint: configuration.engineEndpoint, observer: PrometheusEngineCallMetrics(registry: metrics.registry)),
                    logger: Logger(label: "sandcastle.docker"))
            } catch {
                throw DaemonError.startup("cannot reach the Docker engine: \(error)")
            }
        }
        let instance = try DaemonState.instanceID(in: configuration.stateDirectory)
        let store = try SessionStore(
            .init(
                directory: configuration.stateDirectory, daemonInstance: instance,
                synchronous: SessionStore.Synchronous(rawValue: configuration.storeSynchronous) ?? .full))
        let workspaces = try WorkspaceResolver(root: configuration.workspaceRoot)
        let sizeLimiter = try Daemon.workspaceLimiter(for: configuration, workspaces: workspaces, store: store)
        let engine = LimitedEngine(baseEngine, limit: configuration.engineConcurrency)
        let currentPolicies = Swappable(policies)

        let activity = SessionActivity(clock: parts.clock)
        let relay = TerminalRelay(
            engine: baseEngine,
            configuration: .init(
                scrollbackBytes: configuration.scrollbackBytes, viewerQueueBytes: configuration.viewerQueueBytes,
                screenModel: configuration.screens ? TerminalRelay.Configuration.libvtermScreens : nil),
            delegate: RelayActivity(activity: activity), metrics: PrometheusRelayMetrics(registry: metrics.registry),
            logger: Logger(label: "sandcastle.relay"))
        let pool = WarmPool(
            configuration: .init(
                root: configuration.poolRoot, gate: GateMount(hostPath: configuration.pool.gate), daemonInstance: instance,
                readyTimeout: .seconds(configuration.pool.readyTimeoutSeconds),
                targets: configuration.pool.targets.map {
                    PoolTarget(profile: $0.profile, image: $0.image, size: $0.size, refillPerMinute: $0.refillPerMinute)
                },
                canMount: parts.canMount,
                egress: PoolEgress(
                    directory: DaemonEgress.poolDirectory(configuration.egressDirectory), forwarder: configuration.egress.forwarder)),
            engine: engine, store: store, mounter: parts.mounter, policies: currentPolicies,
            metrics: PrometheusPoolMetrics(registry: metrics.registry), logger: Logger(label: "sandcastle.pool"))
        let egress = try makeEgressProxy(configuration, store: store, activity: activity, registry: metrics.registry)
        let manager = SessionManager(
            configuration: .init(daemonInstance: instance, stopGrace: .seconds(configuration.stopGraceSeconds)),
            engine: engine, store: store, policies: currentPolicies, workspaces: workspaces, sizeLimiter: sizeLimiter,
            pool: pool, terminals: RelayTerminals(relay: relay), activity: activity,
            egress: DaemonEgress(proxy: egress, directory: configuration.egressDirectory, forwarder: configuration.egress.forwarder),
            clock: parts.clock,
            logger: Logger(label: "sandcastle.sessions"))
        try await pool.loadStoredTargets()

        let api = APIDependencies(
            manager: manager, keys: KeyringBox(try Daemon.apiKeyring(for: configuration, logger: logger)),
            tokens: TokenSignerBox(try Daemon.attachSigner(for: configuration)),
            limits: RateLimits(
                perKey: try TokenBucketLimiter(
                    capacity: configuration.perKeyBurst, refillPerSecond: configuration.perKeyPerSecond, maxKeys: 10_000),
                perAddress: try TokenBucketLimiter(
                    capacity: configuration.perAddressBurst, refillPerSecond: configuration.perAddressPerSecond,
                    maxKeys: 10_000)),
            metrics: metrics,
            settings: APISettings(
                maxBodyBytes: configuration.maxBodyBytes, allowedOrigins: Set(configuration.allowedOrigins),
                heartbeatInterval: parts.heartbeatInterval, maxFrameBytes: configuration.maxFrameBytes),
            relay: relay, pool: pool,
            execs: SessionExecs(
                manager: manager, engine: baseEngine as? any ExecEngine, limitPerSession: configuration.execsPerSession))
        return Sandcastle(
            configuration: configuration, instance: instance, store: store, engine: engine, manager: manager, pool: pool,
            relay: relay, egress: egress, metrics: metrics, api: api)
    }
}
