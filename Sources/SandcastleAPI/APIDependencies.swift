import AccessControl
import Foundation
import Logging
import Prometheus
import SessionStore
import Sessions
import Synchronization
import TerminalRelay

/// What the API needs from the rest of the daemon: the domain layer (the session manager, the
/// terminal relay and the warm pool), access control and the HTTP settings. Never the store or the
/// engine: every controller goes through the manager.
public struct APIDependencies: Sendable {
    public var manager: SessionManager
    /// Replaced on SIGHUP (keys added or revoked in the configuration).
    public let keys: KeyringBox
    /// The keys in force now.
    public var keyring: APIKeyring { keys.current }
    /// Replaced on SIGHUP (key rotation), hence behind a mutex shared with the daemon.
    public var tokens: TokenSignerBox
    public var limits: RateLimits
    public var metrics: APIMetrics
    public var settings: APISettings
    public var relay: TerminalRelay
    /// The warm pool (admin routes `/v1/pools`); nil without one.
    public var pool: WarmPool?
    /// Commands run in sessions (`/v1/sessions/{id}/exec`); nil without an engine that has exec.
    public var execs: SessionExecs
    /// The terminal and exec WebSockets being served; a service of the daemon's, to stop after the
    /// relay.
    public let webSocketConnections = WebSocketConnections()

    public init(
        manager: SessionManager, keys: KeyringBox, tokens: TokenSignerBox, limits: RateLimits, metrics: APIMetrics,
        settings: APISettings, relay: TerminalRelay, pool: WarmPool? = nil, execs: SessionExecs
    ) {
        self.manager = manager
        self.keys = keys
        self.tokens = tokens
        self.limits = limits
        self.metrics = metrics
        self.settings = settings
        self.relay = relay
        self.pool = pool
        self.execs = execs
    }
}

/// The attach-token signer, swappable at runtime (key rotation on reload).
public typealias TokenSignerBox = Swappable<AttachTokenSigner>

/// The API keyring, swappable at runtime (keys added or revoked on reload).
public typealias KeyringBox = Swappable<APIKeyring>

/// Limits and switches of the HTTP layer.
public struct APISettings: Sendable {
    public var maxBodyBytes: Int
    public var allowedOrigins: Set<String>
    /// Between SSE heartbeats (comment lines that keep proxies from closing idle streams).
    public var heartbeatInterval: Duration
    public var maxFrameBytes: Int

    public init(
        maxBodyBytes: Int = 1 << 20, allowedOrigins: Set<String> = [], heartbeatInterval: Duration = .seconds(15),
        maxFrameBytes: Int = 64 << 10
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.allowedOrigins = allowedOrigins
        self.heartbeatInterval = heartbeatInterval
        self.maxFrameBytes = maxFrameBytes
    }
}

/// The daemon's Prometheus metrics. The registry is exposed at `/metrics`.
public final class APIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let requests: @Sendable (String, String, Int) -> Void
    let rejections: @Sendable (String) -> Void
    let launchDuration: DurationHistogram
    let launches: Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let requestCounters = RequestCounters(registry: registry)
        requests = { method, route, status in requestCounters.increment(method: method, route: route, status: status) }
        rejections = { reason in
            registry.makeCounter(descriptor: MetricNames.rejections, labels: [("reason", reason)]).increment()
        }
        launchDuration = registry.makeDurationHistogram(
            descriptor: MetricNames.launchDuration,
            buckets: [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                      .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
        launches = registry.makeCounter(descriptor: MetricNames.launches)
    }

    /// Updates the per-state session gauge, at scrape time.
    func refreshSessionGauges(manager: SessionManager) async {
        let counts = (try? await manager.sessionCounts()) ?? [:]
        for state in SessionState.allCases where state != .removed {
            registry.makeGauge(descriptor: MetricNames.sessions, labels: [("state", state.rawValue)]).set(Int64(counts[state] ?? 0))
        }
    }

    func emit() -> String {
        var buffer = [UInt8]()
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// `sandcastle_http_requests_total`, one counter per method, route and status, each looked up in
/// the registry once: the registry's lookup checks the metric's name and labels and takes its lock
/// every time, about 7,000 instructions, on every request.
private final class RequestCounters: Sendable {
    private struct Labels: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    /// More combinations than the routes, methods and statuses give; past it (methods a client
    /// made up) a counter is looked up in the registry each time, as before.
    private static let capacity = 1024
    private let registry: PrometheusCollectorRegistry
    private let counters = Mutex<[Labels: Counter]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func increment(method: String, route: String, status: Int) {
        let labels = Labels(method: method, route: route, status: status)
        if let counter = counters.withLock({ $0[labels] }) {
            counter.increment()
            return
        }
        let counter = registry.makeCounter(
            descriptor: MetricNames.httpRequests, labels: [("method", method), ("route", route), ("status", String(status))])
        counters.withLock { if $0.count < Self.capacity { $0[labels] = counter } }
        counter.increment()
    }
}

/// The names and help texts of the metrics the API registers itself. The registry refuses a second
/// help text for a name it knows, so each is spelled here once. (Computed: the library's descriptor
/// is not `Sendable`, so it cannot be a stored static.)
private enum MetricNames {
    static var httpRequests: MetricNameDescriptor {
        .init(metricName: "sandcastle_http_requests", unitName: "total", helpText: "HTTP requests answered, by method, route and status.")
    }
    static var rejections: MetricNameDescriptor {
        .init(metricName: "sandcastle_rejections", unitName: "total", helpText: "Requests refused or failed, by reason (an API error code or a limit).")
    }
    static var launchDuration: MetricNameDescriptor {
        .init(metricName: "sandcastle_launch_duration", unitName: "seconds", helpText: "Time to answer a create request that launched its session.")
    }
    static var launches: MetricNameDescriptor {
        .init(metricName: "sandcastle_launches", unitName: "total", helpText: "Sessions created and launched.")
    }
    static var sessions: MetricNameDescriptor {
        .init(metricName: "sandcastle_sessions", unitName: "", helpText: "Sessions by state, counted at scrape time.")
    }
}
