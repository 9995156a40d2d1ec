import EgressPolicy
import Foundation
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
