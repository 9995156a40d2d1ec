import Workspaces

extension SessionManager {
    /// The files of the workspaces this manager's sessions use, for the API (whether or not a
    /// session is running). The operations block: run them on a thread pool.
    public nonisolated var workspaceFiles: WorkspaceFiles { WorkspaceFiles(resolver: workspaces) }
}
