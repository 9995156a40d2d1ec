import Foundation
import SandboxPolicy
import SessionStore
import Workspaces

/// One workspace as the API reports it: its backend, what it uses of its limits, and the live
/// sessions (and their profiles) that use it.
public struct WorkspaceReport: Sendable, Equatable {
    public var name: String
    public var backend: WorkspaceQuotaBackend
    /// Nil where the backend cannot tell (no backend, or an image not mounted right now).
    public var usage: WorkspaceUsage?
    public var sessions: [String]
    public var profiles: [String]
    public var createdAt: Date
}

extension SessionManager {
    /// Why `profile`'s workspace limits cannot be enforced by `limiter`, if they cannot.
    public static func unenforceableLimits(_ profile: SandboxProfile, _ limiter: (any WorkspaceSizeLimiter)?) -> String? {
        let limits = WorkspaceLimits(profile)
        guard !limits.isUnlimited else { return nil }
        guard let limiter else {
            return "profile \(profile.name) limits the workspace (workspace_size or workspace_inodes), and this daemon "
                + "enforces no workspace limits ([workspaces] quota is \"none\", or the workspace root has no project "
                + "quotas and no image directory is set); use another profile, or see `sandcastle doctor`"
        }
        if limits.inodes != nil, limiter.backend != .project {
            return "profile \(profile.name) limits the workspace's inodes (workspace_inodes), which only project quotas "
                + "enforce, and this daemon uses \(limiter.backend) limits; use another profile, or see `sandcastle doctor`"
        }
        return nil
    }

    /// How workspace limits are enforced here; `.none` without a limiter.
    public nonisolated var workspaceBackend: WorkspaceQuotaBackend { sizeLimiter?.backend ?? .none }

    /// Every workspace the store knows, by name, with its usage.
    public nonisolated func workspaceReports() async throws -> [WorkspaceReport] {
        let records: [WorkspaceRecord]
        let users: [String: [WorkspaceUse]]
        do {
            records = try await store.workspaceRecords()
            users = Dictionary(grouping: try await store.liveWorkspaceUses(), by: \.workspace)
        } catch {
            throw SessionManagerError.store(error, "listing workspaces")
        }
        let usages = await sizeLimiter?.usages(of: records.map(\.name)) ?? [:]
        return records.map { report($0, uses: users[$0.name] ?? [], usage: usages[$0.name]) }
    }

    /// Workspace `name`.
    ///
    /// - Throws: ``SessionManagerError`` `notFound` when no session ever used it.
    public nonisolated func workspaceReport(_ name: String) async throws -> WorkspaceReport {
        let record: WorkspaceRecord?
        let uses: [WorkspaceUse]
        do {
            record = try await store.workspaceRecord(named: name)
            uses = try await store.liveWorkspaceUses().filter { $0.workspace == name }
        } catch {
            throw SessionManagerError.store(error, "reading workspace \(name)")
        }
        guard let record else { throw SessionManagerError(.notFound, "no workspace named '\(name)'") }
        return report(record, uses: uses, usage: await sizeLimiter?.usage(of: name))
    }

    private nonisolated func report(_ record: WorkspaceRecord, uses: [WorkspaceUse], usage: WorkspaceUsage?) -> WorkspaceReport {
        WorkspaceReport(
            name: record.name, backend: workspaceBackend, usage: usage, sessions: uses.map(\.sessionID),
            profiles: Array(Set(uses.map(\.profile))).sorted(), createdAt: record.createdAt)
    }

    /// What workspace `name` uses of its limits, for a session's representation.
    public nonisolated func workspaceUsage(_ name: String) async -> WorkspaceUsage? {
        await sizeLimiter?.usage(of: name)
    }

    /// Applies the limits of the policies now in force to the workspaces of running sessions: after
    /// a reload, a raised `workspace_size` or `workspace_inodes` takes effect at once. Only backends
    /// that change limits without a mount (project quotas) do this; failures are logged.
    public func applyWorkspaceLimits() async {
        guard let sizeLimiter, !sizeLimiter.mountsOnWorkspace else { return }
        let running: [Session]
        do {
            running = try await store.sessions(inStates: [.running, .starting])
        } catch {
            logger.warning("cannot list sessions to apply workspace limits", metadata: ["error": "\(error)"])
            return
        }
        var done: Set<String> = []
        for session in running where !done.contains(session.workspace) {
            guard let profile = policies.current.profiles[session.profile] else { continue }
            done.insert(session.workspace)
            do {
                let workspace = try await workspaces.resolve(session.workspace)
                _ = try await sizeLimiter.limit(workspace, to: WorkspaceLimits(profile), use: .session)
            } catch {
                logger.warning(
                    "applying workspace limits failed",
                    metadata: ["workspace.name": "\(session.workspace)", "error": "\(error)"])
            }
        }
    }

    /// Appends a `workspace.full` event for workspace `name` (its usage and limits in the payload,
    /// and the sessions using it).
    public nonisolated func recordWorkspaceFull(_ report: WorkspaceReport) async {
        struct Payload: Encodable {
            var workspace: String
            var usedBytes: Int64
            var usedInodes: Int64
            var limitBytes: Int64?
            var limitInodes: Int64?
            var sessions: [String]
        }
        guard let usage = report.usage else { return }
        do {
            let payload = Payload(
                workspace: report.name, usedBytes: usage.usedBytes, usedInodes: usage.usedInodes,
                limitBytes: usage.limits.bytes, limitInodes: usage.limits.inodes, sessions: report.sessions)
            _ = try await store.appendEvent(
                try NewEvent(type: .workspaceFull, sessionID: report.sessions.count == 1 ? report.sessions[0] : nil, encoding: payload))
        } catch {
            logger.warning("recording workspace.full failed", metadata: ["workspace.name": "\(report.name)", "error": "\(error)"])
        }
    }
}
