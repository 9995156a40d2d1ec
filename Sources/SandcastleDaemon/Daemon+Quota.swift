import Logging
import SandcastleConfig
import SessionStore
import Workspaces

extension Daemon {
    /// The workspace-limit backend `configuration` resolves to on this host: `[workspaces] quota`,
    /// with `auto` asking the workspace root's file system (no capability needed). Cheap and
    /// thread-free, so hardening can decide with it.
    public static func workspaceQuotaBackend(for configuration: DaemonConfiguration) -> WorkspaceQuotaBackend {
        WorkspaceQuotaBackend.resolve(
            setting: configuration.workspaceQuota.rawValue, workspaceRoot: configuration.workspaceRoot,
            imageDirectory: configuration.workspaceImageDirectory)
    }

    /// The limiter of that backend; nil for `none`.
    ///
    /// - Throws: when `quota = "project"` and the workspace root has no project quotas on, or
    ///   `quota = "image"` without `paths.workspace_images`.
    static func workspaceLimiter(
        for configuration: DaemonConfiguration, workspaces: WorkspaceResolver, store: SessionStore
    ) throws -> (any WorkspaceSizeLimiter)? {
        let logger = Logger(label: "sandcastle.quota")
        switch workspaceQuotaBackend(for: configuration) {
        case .none:
            if configuration.workspaceQuota == .image {
                throw DaemonError.startup("[workspaces] quota = \"image\" needs paths.workspace_images; set it, or use quota = \"auto\"")
            }
            return nil
        case .image:
            return try Ext4ImageWorkspaceLimiter(
                imageDirectory: configuration.workspaceImageDirectory ?? "", resolver: workspaces, logger: logger)
        case .project:
            return try ProjectQuotaWorkspaceLimiter(resolver: workspaces, ids: StoreProjectIDs(store: store), logger: logger)
        }
    }
}

/// Workspaces' project ids, kept in the session store beside their uids.
struct StoreProjectIDs: WorkspaceProjectIDs {
    let store: SessionStore

    func projectID(forWorkspace name: String) async throws -> UInt32 {
        try await store.workspaceProjectID(for: name, first: ProjectQuota.firstProjectID)
    }

    func existingProjectID(forWorkspace name: String) async throws -> UInt32? {
        try await store.workspaceRecord(named: name)?.projectID
    }

    func existingProjectIDs() async throws -> [String: UInt32] {
        var ids: [String: UInt32] = [:]
        for record in try await store.workspaceRecords() {
            if let id = record.projectID { ids[record.name] = id }
        }
        return ids
    }
}
