import DockerEngine

/// The workspace as the launch spec binds it: a resolved host path, and how it is shared.
public struct WorkspaceMount: Sendable, Equatable {
    public enum Use: Sendable, Equatable {
        /// An ordinary session: the bind is `rprivate`.
        case session
        /// A warm-pool slot: the bind is `rslave`, so a workspace mounted under the slot directory
        /// at claim time appears inside the running container.
        case poolSlot
    }

    /// The resolved workspace directory (`ResolvedWorkspace.path`): absolute, normalised, no
    /// symlinks.
    public let hostPath: String
    public let use: Use
    /// The size limit already in force on the workspace, set by a `WorkspaceSizeLimiter`. A profile
    /// with `workspace_size` is refused unless this equals it.
    public let enforcedSizeLimitBytes: Int64?

    public init(hostPath: String, use: Use = .session, enforcedSizeLimitBytes: Int64? = nil) {
        self.hostPath = hostPath
        self.use = use
        self.enforcedSizeLimitBytes = enforcedSizeLimitBytes
    }

    public var propagation: Mount.Propagation {
        switch use {
        case .session: .rprivate
        case .poolSlot: .rslave
        }
    }
}
