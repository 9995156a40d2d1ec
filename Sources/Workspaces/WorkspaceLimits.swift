import SandboxPolicy

/// What a profile limits a workspace to: bytes (`workspace_size`) and inodes (`workspace_inodes`);
/// nil is no limit.
public struct WorkspaceLimits: Sendable, Equatable, Codable {
    public var bytes: Int64?
    public var inodes: Int64?

    public init(bytes: Int64? = nil, inodes: Int64? = nil) {
        self.bytes = bytes
        self.inodes = inodes
    }

    public init(_ profile: SandboxProfile) {
        self.init(bytes: profile.workspaceSizeBytes, inodes: profile.workspaceInodes)
    }

    public var isUnlimited: Bool { bytes == nil && inodes == nil }
}

/// How workspace limits are enforced on this host (`[workspaces] quota`).
public enum WorkspaceQuotaBackend: String, Sendable, Codable, CaseIterable {
    /// A project id per workspace directory on the workspace root's own file system (ext4 with
    /// `prjquota`, XFS with `pquota`): no mount, bytes and inodes, usage for every workspace.
    case project
    /// An ext4 image loop-mounted on each limited workspace: bytes only, needs mounts.
    case image
    /// Nothing is enforced: profiles that ask for a limit are refused.
    case none
}

extension WorkspaceQuotaBackend {
    /// The `[workspaces] quota` setting (`auto`, `project`, `image`, `none`) resolved on this host:
    /// `auto` is project quotas when the workspace root's file system has them on, else images
    /// when an image directory is set, else none. Asks the file system only (no capability), so the
    /// daemon's hardening and `sandcastle doctor` decide alike.
    public static func resolve(setting: String, workspaceRoot: String, imageDirectory: String?) -> WorkspaceQuotaBackend {
        switch setting {
        case "project": return .project
        case "image": return imageDirectory == nil ? .none : .image
        case "auto":
            if ProjectQuota.support(at: workspaceRoot).isEnforced { return .project }
            return imageDirectory == nil ? .none : .image
        default: return .none
        }
    }
}

/// One workspace's use of its limits, as its backend reports it.
public struct WorkspaceUsage: Sendable, Equatable, Codable {
    public var usedBytes: Int64
    public var usedInodes: Int64
    /// What is in force; nil where nothing is.
    public var limits: WorkspaceLimits

    public init(usedBytes: Int64, usedInodes: Int64, limits: WorkspaceLimits) {
        self.usedBytes = usedBytes
        self.usedInodes = usedInodes
        self.limits = limits
    }

    /// At (or, for blocks the file system rounds, within one 4 KiB block of) a limit: the next
    /// write or file fails.
    public var isFull: Bool {
        if let bytes = limits.bytes, usedBytes + 4096 > bytes { return true }
        if let inodes = limits.inodes, usedInodes >= inodes { return true }
        return false
    }
}

extension WorkspaceSizeLimiter {
    /// Which backend this is.
    public var backend: WorkspaceQuotaBackend { .image }

    /// Whether `limit` mounts something on the workspace directory (then it is resolved again
    /// after, and warm-pool slots cannot take the workspace).
    public var mountsOnWorkspace: Bool { true }

    /// Applies `limits` to the workspace; nil when there is nothing to do. A backend that only limits
    /// bytes refuses an inode limit.
    public func limit(_ workspace: ResolvedWorkspace, to limits: WorkspaceLimits, use: WorkspaceMount.Use)
        async throws(WorkspaceError) -> WorkspaceMount?
    {
        if limits.inodes != nil {
            throw WorkspaceError(
                .sizeLimitUnavailable, path: workspace.path,
                "the profile limits inodes (workspace_inodes), which workspace images cannot enforce; use project "
                    + "quotas ([workspaces] quota = \"project\" on an ext4 or XFS root with project quotas) or remove "
                    + "workspace_inodes from the profile")
        }
        guard let bytes = limits.bytes else { return nil }
        return try await limit(workspace, toBytes: bytes, use: use)
    }

    /// What workspace `name` uses of its limits; nil where the backend cannot tell.
    public func usage(of name: String) async -> WorkspaceUsage? { nil }

    /// Each of `names`' usage, asked one by one.
    public func usages(of names: [String]) async -> [String: WorkspaceUsage] {
        var found: [String: WorkspaceUsage] = [:]
        for name in names {
            if let usage = await usage(of: name) { found[name] = usage }
        }
        return found
    }
}
