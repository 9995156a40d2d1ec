import TOMLConfig

/// How the daemon enforces `workspace_size` and `workspace_inodes` (`[workspaces] quota`).
public enum WorkspaceQuotaSetting: String, Sendable, Equatable, CaseIterable {
    /// Project quotas when the workspace root's file system has them on, else workspace images when
    /// `paths.workspace_images` is set, else none.
    case auto
    /// Project quotas; the daemon refuses to start when the workspace root has none.
    case project
    /// Loop-mounted ext4 images in `paths.workspace_images` (needs mounts).
    case image
    /// No limits: profiles that ask for one are refused.
    case none
}

extension DaemonConfiguration {
    /// Reads `[workspaces]`:
    ///
    /// ```toml
    /// [workspaces]
    /// quota = "auto"     # or "project", "image", "none"
    /// ```
    static func parseWorkspaces(_ top: ConfigTable, into config: inout DaemonConfiguration, log: ProblemLog) {
        guard let table = top.table("workspaces", required: false) else { return }
        defer { table.refuseUnknownKeys() }
        guard let value = table.string("quota", required: false) else { return }
        if let setting = WorkspaceQuotaSetting(rawValue: value) {
            config.workspaceQuota = setting
        } else {
            log.report("workspaces.quota", value: value, "expected \"auto\", \"project\", \"image\" or \"none\"")
        }
    }
}
