import EgressPolicy
import EgressProxy
import Foundation
import Logging
import Prometheus
import SandboxPolicy
import SandcastleConfig
import SessionStore
import Sessions
import Synchronization

/// The egress proxy as the session manager's ``SessionEgress``: a directory per session under
/// the configured egress directory (`<dir>/<session>/proxy.sock`; a warm-pool session's is its
/// slot's, `<dir>/.pool/<slot>`), and beside it a record (`<dir>/<session>.allow`: profile, uid,
/// the allow list and the directory) from which a restarted daemon or a session started again
/// reopens the socket. The record is outside the bound directory: the container never sees it.
struct DaemonEgress: SessionEgress {
    let proxy: EgressProxy
    let directory: String
    let forwarder: String

    private struct Record: Codable {
        var profile: String
        var uid: UInt32
        var allow: [String]
        /// Where the socket is; absent in records written before pool slots had egress.
        var directory: String?
    }

    /// Where pool slots' egress directories live: below the egress directory, under a name no
    /// session id can have (ids start with a letter or digit).
    static func poolDirectory(_ directory: String) -> String { directory + "/.pool" }

    func open(sessionID: String, profile: String, allow: EgressAllowList, uid: UInt32, directory socket: String?)
        async throws -> EgressMount
    {
        let socket = socket ?? socketDirectory(sessionID)
        let record = Record(profile: profile, uid: uid, allow: allow.entries, directory: socket)
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: recordPath(sessionID)), options: .atomic)
        try await proxy.open(sessionID: sessionID, profile: profile, allow: allow, uid: uid, directory: socket)
        return EgressMount(socketDirectory: socket, forwarder: forwarder)
    }

    func reopen(sessionID: String) async throws -> Bool {
        guard let data = FileManager.default.contents(atPath: recordPath(sessionID)) else { return false }
        let record = try JSONDecoder().decode(Record.self, from: data)
        let allow = try EgressAllowList.parse(record.allow).mapError { error in
            EgressProxyError("the egress record of session \(sessionID) is damaged: \(error.problems.map(\.reason))")
        }.get()
        try await proxy.open(
            sessionID: sessionID, profile: record.profile, allow: allow, uid: record.uid,
            directory: record.directory ?? socketDirectory(sessionID))
        return true
    }

    func suspend(sessionID: String) async {
        await proxy.close(sessionID: sessionID, removingDirectory: false)
    }

    func remove(sessionID: String) async {
        await proxy.close(sessionID: sessionID, removingDirectory: true)
        try? FileManager.default.removeItem(atPath: socketDirectory(sessionID))
        try? FileManager.default.removeItem(atPath: recordPath(sessionID))
    }

    func status(sessionID: String) -> EgressStatus? {
        proxy.status(sessionID: sessionID)
    }

    private func socketDirectory(_ id: String) -> String { directory + "/" + id }
    private func recordPath(_ id: String) -> String { directory + "/" + id + ".allow" }
}

/// What the proxy reports, as the daemon records it: `egress.denied`, `egress.connected` and
/// `egress.closed` events in the store's log (through an ``EgressEventLog``, off the event
/// loop), Prometheus counters, and session activity for the idle reaper.
struct EgressRecorder: EgressObserver {
    let events: EgressEventLog
    let activity: SessionActivity
    let registry: PrometheusCollectorRegistry
    // Looked up once: every tunnel counts in these.
    let connections: Counter
    let bytesUp: Counter
    let bytesDown: Counter

    init(store: SessionStore, activity: SessionActivity, registry: PrometheusCollectorRegistry, logger: Logger) {
        events = EgressEventLog(store: store, logger: logger)
        self.activity = activity
        self.registry = registry
        connections = registry.makeCounter(descriptor: MetricNames.egressConnections)
        bytesUp = registry.makeCounter(descriptor: MetricNames.egressBytes, labels: [("direction", "up")])
        bytesDown = registry.makeCounter(descriptor: MetricNames.egressBytes, labels: [("direction", "down")])
    }

    func egressDenied(_ denial: EgressDenial) {
        registry.makeCounter(descriptor: MetricNames.egressDenied, labels: [("status", String(denial.status))]).increment()
        append(
            .egressDenied, denial.sessionID,
            Payload(host: denial.host, port: denial.port, status: denial.status, reason: denial.reason))
    }

    func egressConnected(_ tunnel: EgressTunnelReport) {
        connections.increment()
        activity.touch(tunnel.sessionID)
        append(.egressConnected, tunnel.sessionID, Payload(host: tunnel.host, port: tunnel.port, address: tunnel.address))
    }

    func egressClosed(_ tunnel: EgressTunnelReport) {
        bytesUp.increment(by: tunnel.bytesUp)
        bytesDown.increment(by: tunnel.bytesDown)
        activity.touch(tunnel.sessionID)
        let duration = tunnel.duration.components
        append(
            .egressClosed, tunnel.sessionID,
            Payload(
                host: tunnel.host, port: tunnel.port, address: tunnel.address, bytesUp: tunnel.bytesUp,
                bytesDown: tunnel.bytesDown,
                durationMs: duration.seconds * 1000 + duration.attoseconds / 1_000_000_000_000_000,
                reason: tunnel.closeReason))
    }

    func egressActivity(sessionID: String) {
        activity.touch(sessionID)
    }

    private struct Payload: Encodable {
        var host: String
        var port: Int
        var address: String?
        var status: Int?
        var bytesUp: Int64?
        var bytesDown: Int64?
        var durationMs: Int64?
        var reason: String?
    }

    func flush() async {
        await events.flush()
    }

    private func append(_ type: EventType, _ sessionID: String, _ payload: Payload) {
        guard let event = try? NewEvent(type: type, sessionID: sessionID, encoding: payload) else { return }
        events.append(event)
    }
}

/// Egress events on their way to the store, a batch at a time. Tools open tunnels by the dozen
/// (a package install, one per download), and each event in a transaction of its own cost an
/// fsync, on the store's writer, while the next tunnels were being set up. An event waits at
/// most ``delay``, then goes with the others that came meanwhile in one transaction, in the order
/// they came. The proxy's shutdown appends what waits (``flush()``).
final class EgressEventLog: Sendable {
    /// Long enough that a tunnel's `connected` and a short request's `closed` share a commit,
    /// short against what a reader of `/v1/events` waits for.
    static let delay = Duration.milliseconds(100)

    private struct Queue {
        var pending: [NewEvent] = []
        /// A task is waiting to append (or appending) the pending events.
        var scheduled = false
    }

    private let store: SessionStore
    private let logger: Logger
    private let queue = Mutex(Queue())

    init(store: SessionStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Queues `event`; returns at once (it is called on event loops).
    func append(_ event: NewEvent) {
        let schedule = queue.withLock { queue in
            queue.pending.append(event)
            defer { queue.scheduled = true }
            return !queue.scheduled
        }
        guard schedule else { return }
        Task {
            // One task at a time: batches are appended in order.
            while true {
                try? await Task.sleep(for: Self.delay)
                let batch = queue.withLock { queue in
                    defer { queue.pending = [] }
                    if queue.pending.isEmpty { queue.scheduled = false }
                    return queue.pending
                }
                if batch.isEmpty { return }
                await write(batch)
            }
        }
    }

    /// Appends what waits now.
    func flush() async {
        await write(queue.withLock { queue in
            defer { queue.pending = [] }
            return queue.pending
        })
    }

    private func write(_ batch: [NewEvent]) async {
        guard !batch.isEmpty else { return }
        do {
            try await store.appendEvents(batch)
        } catch {
            logger.warning("cannot record egress events", metadata: ["events": "\(batch.count)", "error": "\(error)"])
        }
    }
}

extension EventType {
    public static let egressDenied: EventType = "egress.denied"
    public static let egressConnected: EventType = "egress.connected"
    public static let egressClosed: EventType = "egress.closed"
}
