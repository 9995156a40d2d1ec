import Foundation
import Hummingbird
import SandboxPolicy
import Sessions
import Workspaces

/// `/v1/workspaces`: every workspace with the bytes and inodes it uses against its limits.
struct WorkspacesController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.get("workspaces", use: list)
        group.get("workspaces/{name}", use: show)
    }

    struct WorkspaceList: Encodable {
        /// How limits are enforced on this daemon: `project`, `image` or `none`.
        var backend: String
        var workspaces: [WorkspaceRepresentation]
    }

    /// `GET /v1/workspaces`.
    @Sendable func list(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let reports = try await dependencies.manager.workspaceReports()
        return try json(
            WorkspaceList(backend: dependencies.manager.workspaceBackend.rawValue, workspaces: reports.map(WorkspaceRepresentation.init)),
            context: context)
    }

    /// `GET /v1/workspaces/{name}`.
    @Sendable func show(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let name = try context.parameters.require("name")
        if let problem = WorkspaceName.problem(name) { throw APIError.invalid("invalid workspace name: \(problem)") }
        return try json(WorkspaceRepresentation(try await dependencies.manager.workspaceReport(name)), context: context)
    }
}

/// A workspace as the API shows it.
struct WorkspaceRepresentation: Codable, Sendable, Equatable {
    var name: String
    var backend: String
    /// Absent when the backend cannot tell (no limits, or an image not mounted now).
    var usage: WorkspaceUsageRepresentation?
    /// The live sessions using it, and their profiles.
    var sessions: [String]
    var profiles: [String]
    var createdAt: Date

    init(_ report: WorkspaceReport) {
        name = report.name
        backend = report.backend.rawValue
        usage = report.usage.map(WorkspaceUsageRepresentation.init)
        sessions = report.sessions
        profiles = report.profiles
        createdAt = report.createdAt
    }
}

/// Bytes and inodes used against their limits (a limit is absent where there is none).
struct WorkspaceUsageRepresentation: Codable, Sendable, Equatable {
    struct Amount: Codable, Sendable, Equatable {
        var used: Int64
        var limit: Int64?
    }

    var bytes: Amount
    var inodes: Amount
    /// At a limit: the next write (or the next file) fails with EDQUOT or ENOSPC.
    var full: Bool

    init(_ usage: WorkspaceUsage) {
        bytes = Amount(used: usage.usedBytes, limit: usage.limits.bytes)
        inodes = Amount(used: usage.usedInodes, limit: usage.limits.inodes)
        full = usage.isFull
    }
}
