import EgressPolicy
import EgressProxy
import Foundation
import Logging
import Prometheus
import SandboxPolicy
import SandcastleConfig
import SessionStore
import Sessions

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
/// `egress.closed` events in the store's log (appended off the event loop), Prometheus counters,
/// and session activity for the idle reaper.
struct EgressRecorder: EgressObserver {
    let store: SessionStore
    let activity: SessionActivity
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    func egressDenied(_ denial: EgressDenial) {
        registry.makeCounter(name: "sandcastle_egress_denied_total", labels: [("status", String(denial.status))]).increment()
        append(
            .egressDenied, denial.sessionID,
            Payload(host: denial.host, port: denial.port, status: denial.status, reason: denial.reason))
    }

    func egressConnected(_ tunnel: EgressTunnelReport) {
        registry.makeCounter(name: "sandcastle_egress_connections_total").increment()
        activity.touch(tunnel.sessionID)
        append(.egressConnected, tunnel.sessionID, Payload(host: tunnel.host, port: tunnel.port, address: tunnel.address))
    }

    func egressClosed(_ tunnel: EgressTunnelReport) {
        registry.makeCounter(name: "sandcastle_egress_bytes_total", labels: [("direction", "up")]).increment(by: tunnel.bytesUp)
        registry.makeCounter(name: "sandcastle_egress_bytes_total", labels: [("direction", "down")])
            .increment(by: tunnel.bytesDown)
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

    private func append(_ type: EventType, _ sessionID: String, _ payload: Payload) {
        guard let event = try? NewEvent(type: type, sessionID: sessionID, encoding: payload) else { return }
        let store = self.store
        let logger = self.logger
        // Off the event loop: the store's write must never hold a tunnel up.
        Task {
            do {
                _ = try await store.appendEvent(event)
            } catch {
                logger.warning("cannot record an egress event", metadata: ["event": "\(type)", "error": "\(error)"])
            }
        }
    }
}

extension EventType {
    public static let egressDenied: EventType = "egress.denied"
    public static let egressConnected: EventType = "egress.connected"
    public static let egressClosed: EventType = "egress.closed"
}
