import EgressPolicy
import Foundation
import HTTPTypes
import Hummingbird
import JSONText
import SessionStore

/// A session as the API shows it. The environment's values never leave the daemon: only names.
struct SessionRepresentation: Codable, Sendable, Equatable {
    var id: String
    var state: String
    var owner: String
    var image: String
    var profile: String
    var workspace: String
    var command: [String]
    var envNames: [String]
    var labels: [String: String]
    var containerId: String?
    var exitCode: Int?
    var exitReason: String?
    var error: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var lastActivityAt: Date
    var ttlSeconds: Int?
    var idleTimeoutSeconds: Int?
    /// What the session's workspace uses of its limits (`GET /v1/sessions/{id}` only).
    var workspaceUsage: WorkspaceUsageRepresentation?
    /// The session's egress allow list and counters, while its proxy is open.
    var egress: EgressRepresentation?
    /// An attach token for the session's terminal (`POST /v1/sessions` with `attachToken` only).
    var attachToken: AttachTokenRepresentation?

    init(_ session: Session, egress: EgressStatus? = nil) {
        self.egress = egress.map { EgressRepresentation(allow: $0.allow, counters: $0.counters) }
        id = session.id
        state = session.state.rawValue
        owner = session.owner
        image = session.image
        profile = session.profile
        workspace = session.workspace
        command = session.command
        envNames = session.envNames
        labels = session.labels
        containerId = session.containerID
        exitCode = session.exitCode
        exitReason = session.exitReason?.rawValue
        error = session.error
        createdAt = session.createdAt
        startedAt = session.startedAt
        finishedAt = session.finishedAt
        lastActivityAt = session.lastActivityAt
        ttlSeconds = session.ttlSeconds
        idleTimeoutSeconds = session.idleTimeoutSeconds
    }
}

/// A minted attach token, as `POST /v1/sessions/{id}/attach-tokens` answers it.
struct AttachTokenRepresentation: Codable, Sendable, Equatable {
    var token: String
    var expiresAt: Date
    var role: String
}

struct EgressRepresentation: Codable, Sendable, Equatable {
    var allow: [String]
    var counters: EgressCounters
}

struct SessionList: Codable, Sendable {
    var sessions: [SessionRepresentation]
    /// Pass as `cursor` for the next page; absent on the last page.
    var next: String?
}

// MARK: - Written with JSONText

/// A response body written member by member with `JSONText`, keys in sorted order: the same text
/// `responseEncoder` gives its `Encodable` form (a test compares the two), for a tenth of the
/// instructions. For the responses on the launch path and the listings that repeat them.
protocol JSONTextWritable: Encodable {
    func write(to text: inout JSONText)
}

/// Encodes `value` as the JSON response, with `JSONText`.
func json(_ value: some JSONTextWritable, status: HTTPResponse.Status = .ok, context: SandcastleRequestContext) -> Response {
    var text = JSONText()
    value.write(to: &text)
    return jsonResponse(text.bytes, status: status)
}

extension SessionRepresentation: JSONTextWritable {
    func write(to text: inout JSONText) {
        text.beginObject()
        if let attachToken {
            text.key("attachToken")
            attachToken.write(to: &text)
        }
        text.member("command", command)
        text.member("containerId", containerId)
        text.member("createdAt", createdAt)
        if let egress {
            text.key("egress")
            egress.write(to: &text)
        }
        text.member("envNames", envNames)
        text.member("error", error)
        text.member("exitCode", exitCode)
        text.member("exitReason", exitReason)
        text.member("finishedAt", finishedAt)
        text.member("id", id)
        text.member("idleTimeoutSeconds", idleTimeoutSeconds)
        text.member("image", image)
        text.member("labels", labels)
        text.member("lastActivityAt", lastActivityAt)
        text.member("owner", owner)
        text.member("profile", profile)
        text.member("startedAt", startedAt)
        text.member("state", state)
        text.member("ttlSeconds", ttlSeconds)
        text.member("workspace", workspace)
        if let workspaceUsage {
            text.key("workspaceUsage")
            workspaceUsage.write(to: &text)
        }
        text.endObject()
    }
}

extension AttachTokenRepresentation: JSONTextWritable {
    func write(to text: inout JSONText) {
        text.beginObject()
        text.member("expiresAt", expiresAt)
        text.member("role", role)
        text.member("token", token)
        text.endObject()
    }
}

extension EgressRepresentation: JSONTextWritable {
    func write(to text: inout JSONText) {
        text.beginObject()
        text.member("allow", allow)
        text.key("counters")
        text.beginObject()
        text.member("active", counters.active)
        text.member("bytesDown", counters.bytesDown)
        text.member("bytesUp", counters.bytesUp)
        text.member("connections", counters.connections)
        text.member("denied", counters.denied)
        text.endObject()
        text.endObject()
    }
}

extension WorkspaceUsageRepresentation: JSONTextWritable {
    func write(to text: inout JSONText) {
        func amount(_ key: String, _ amount: Amount) {
            text.key(key)
            text.beginObject()
            text.member("limit", amount.limit)
            text.member("used", amount.used)
            text.endObject()
        }
        text.beginObject()
        amount("bytes", bytes)
        text.member("full", full)
        amount("inodes", inodes)
        text.endObject()
    }
}

extension SessionList: JSONTextWritable {
    func write(to text: inout JSONText) {
        text.beginObject()
        text.member("next", next)
        text.key("sessions")
        text.beginArray()
        for session in sessions { session.write(to: &text) }
        text.endArray()
        text.endObject()
    }
}
