import SandboxPolicy

/// Puts a size limit on a workspace: the seam for profiles with `workspace_size`.
///
/// `Ext4ImageWorkspaceLimiter` (in this target, under `Quota/`) backs the workspace with its own ext4
/// image, loop-mounted `nosuid,nodev` on the workspace directory (writes fail with ENOSPC at the
/// limit). Without a limiter, the launch spec refuses such profiles as unsupported on this host.
public protocol WorkspaceSizeLimiter: Sendable {
    /// Makes sure at most `bytes` can be written under `workspace`, and returns the mount to launch
    /// with, its `enforcedSizeLimitBytes` set to `bytes`.
    func limit(_ workspace: ResolvedWorkspace, toBytes bytes: Int64, use: WorkspaceMount.Use)
        async throws(WorkspaceError)
        -> WorkspaceMount

    /// Lifts the limit of workspace `name` (and with `deletingImage` deletes what backed it), before
    /// the workspace itself is deleted. Call it once no session uses the workspace.
    func release(workspace name: String, deletingImage: Bool) async throws(WorkspaceError)

    // With defaults in `WorkspaceLimits.swift`, for backends that limit bytes only.

    /// Which backend this is.
    var backend: WorkspaceQuotaBackend { get }
    /// Whether `limit` mounts something on the workspace directory.
    var mountsOnWorkspace: Bool { get }
    /// Applies a profile's `limits` (bytes and inodes) to the workspace and returns the mount to
    /// launch with; nil when the backend has nothing to do for them.
    func limit(_ workspace: ResolvedWorkspace, to limits: WorkspaceLimits, use: WorkspaceMount.Use)
        async throws(WorkspaceError) -> WorkspaceMount?
    /// What workspace `name` uses of its limits; nil where the backend cannot tell.
    func usage(of name: String) async -> WorkspaceUsage?
    /// What each of `names` uses, by name (those the backend cannot tell about left out): for a
    /// listing of every workspace, which asks once instead of once per workspace.
    func usages(of names: [String]) async -> [String: WorkspaceUsage]
}
