import Dispatch
import Glibc
import Logging
import SandboxPolicy
import TOMLConfig

/// Where each workspace's project id is kept (the session store, in the daemon): stable for as long
/// as the workspace exists, unique, freed when the workspace is deleted.
public protocol WorkspaceProjectIDs: Sendable {
    /// The workspace's id, allocated and recorded on first use.
    func projectID(forWorkspace name: String) async throws -> UInt32
    /// The workspace's id if it has one.
    func existingProjectID(forWorkspace name: String) async throws -> UInt32?
    /// Every workspace's id, by name (those without one left out).
    func existingProjectIDs() async throws -> [String: UInt32]
}

/// Limits workspaces with project quotas on the workspace root's own file system: each workspace
/// directory gets a project id of its own with `FS_XFLAG_PROJINHERIT` (everything made beneath it
/// is charged to it), and that project gets a block and an inode limit. No mount, no tool, no
/// image: a write over the limit fails with `EDQUOT` in the sandbox, and every other workspace, the
/// daemon's store and the rest of the file system are untouched.
///
/// - **limit**: allocates (or finds) the workspace's project id in the store; when the directory
///   is new to that id, sets it on the directory and on everything already in it (files written
///   before the workspace had a limit are then counted too); sets the limits (0, none, where the
///   profile sets none, so usage is still reported). Called at every launch and when the policies
///   are reloaded: raising a limit takes effect in a running session at once; lowering one below
///   what is used stops further writes, and nothing is deleted.
/// - **release**: drops the project's limits before its directory is deleted; deleting the
///   workspace's store row frees the id.
/// - **usage**: `Q_GETQUOTA` for the project: bytes and inodes used, and the limits in force.
///
/// Needs `CAP_SYS_ADMIN` (quotactl) and `CAP_FOWNER` (the ioctl on directories of sandbox uids); see
/// ``ProjectQuota``. Every call blocks, so it runs on this limiter's serial queue.
public struct ProjectQuotaWorkspaceLimiter: WorkspaceSizeLimiter {
    public let workspaceRoot: String
    let ids: any WorkspaceProjectIDs
    let logger: Logger
    private let queue = BlockingQueue(label: "sandcastle.workspace-project-quota")

    /// - Throws: `sizeLimitUnavailable` when the workspace root's file system does not enforce
    ///   project quotas.
    public init(resolver: WorkspaceResolver, ids: any WorkspaceProjectIDs, logger: Logger) throws(WorkspaceError) {
        let support = ProjectQuota.support(at: resolver.root)
        guard support.isEnforced else {
            throw WorkspaceError(
                .sizeLimitUnavailable, path: resolver.root,
                "the workspace root has \(support); mount an ext4 file system made with `mkfs.ext4 -O quota,project` "
                    + "with `prjquota`, or XFS with `pquota`, there (README, \"Workspace disk limits\")")
        }
        self.workspaceRoot = resolver.root
        self.ids = ids
        self.logger = logger
    }

    public var backend: WorkspaceQuotaBackend { .project }
    public var mountsOnWorkspace: Bool { false }

    public func limit(_ workspace: ResolvedWorkspace, toBytes bytes: Int64, use: WorkspaceMount.Use)
        async throws(WorkspaceError) -> WorkspaceMount
    {
        try await limit(workspace, to: WorkspaceLimits(bytes: bytes), use: use)
            ?? WorkspaceMount(hostPath: workspace.path, use: use, enforcedSizeLimitBytes: bytes)
    }

    public func limit(_ workspace: ResolvedWorkspace, to limits: WorkspaceLimits, use: WorkspaceMount.Use)
        async throws(WorkspaceError) -> WorkspaceMount?
    {
        let id = try await projectID(workspace.name, path: workspace.path)
        try await queue.run { () throws(WorkspaceError) in
            try workspace.verifyUnchanged()
            try assign(id, to: workspace)
            try check(ProjectQuota.setQuota(of: id, on: workspace.descriptor, limits), "Q_SETQUOTA", path: workspace.path)
        }
        logger.debug(
            "workspace limited",
            metadata: [
                "workspace.name": "\(workspace.name)", "workspace.project": "\(id)",
                "workspace.bytes": "\(limits.bytes.map(String.init) ?? "none")",
                "workspace.inodes": "\(limits.inodes.map(String.init) ?? "none")",
            ])
        return WorkspaceMount(hostPath: workspace.path, use: use, enforcedSizeLimitBytes: limits.bytes)
    }

    public func release(workspace name: String, deletingImage: Bool) async throws(WorkspaceError) {
        try WorkspaceResolver.checkName(name)
        guard let id = try await existingProjectID(name) else { return }
        let root = workspaceRoot
        try await queue.run { () throws(WorkspaceError) in
            let fd = try Syscall.openDirectoryWalking(root)
            defer { close(fd) }
            try check(ProjectQuota.setQuota(of: id, on: fd, WorkspaceLimits()), "Q_SETQUOTA", path: root + "/" + name)
        }
    }

    public func usage(of name: String) async -> WorkspaceUsage? {
        guard let id = try? await existingProjectID(name) else { return nil }
        return await quotas(of: [name: id])[name]
    }

    /// All of `names`' ids in one read of the store and their quotas in one job: the workspace
    /// monitor lists every workspace at each interval.
    public func usages(of names: [String]) async -> [String: WorkspaceUsage] {
        guard let ids = try? await ids.existingProjectIDs() else { return [:] }
        var wanted: [String: UInt32] = [:]
        for name in names {
            if let id = ids[name] { wanted[name] = id }
        }
        return await quotas(of: wanted)
    }

    /// `Q_GETQUOTA` for each project id, by workspace name; those it fails for are left out.
    private func quotas(of ids: [String: UInt32]) async -> [String: WorkspaceUsage] {
        guard !ids.isEmpty else { return [:] }
        let root = workspaceRoot
        return (try? await queue.run { () throws(WorkspaceError) -> [String: WorkspaceUsage] in
            let fd = try Syscall.openDirectoryWalking(root)
            defer { close(fd) }
            return ids.compactMapValues { ProjectQuota.quota(of: $0, on: fd).0 }
        }) ?? [:]
    }

    // MARK: -

    private func projectID(_ name: String, path: String) async throws(WorkspaceError) -> UInt32 {
        do {
            return try await ids.projectID(forWorkspace: name)
        } catch {
            throw WorkspaceError(.sizeLimitUnavailable, path: path, "cannot record the workspace's project id: \(error)")
        }
    }

    private func existingProjectID(_ name: String) async throws(WorkspaceError) -> UInt32? {
        do {
            return try await ids.existingProjectID(forWorkspace: name)
        } catch {
            throw WorkspaceError(.sizeLimitUnavailable, path: workspaceRoot + "/" + name, "cannot read the workspace's project id: \(error)")
        }
    }

    /// Gives the workspace directory project `id` with the inherit flag; when it had another id,
    /// everything already in it too.
    private func assign(_ id: UInt32, to workspace: ResolvedWorkspace) throws(WorkspaceError) {
        let current = ProjectQuota.project(of: workspace.descriptor)
        if current?.id == id, current?.inherits == true { return }
        if current?.id != id {
            logger.info(
                "giving the workspace its project id", metadata: ["workspace.name": "\(workspace.name)", "workspace.project": "\(id)"])
            try tagEntries(of: workspace.descriptor, id, path: workspace.path)
        }
        try check(ProjectQuota.setProject(workspace.descriptor, id, inherit: true), "FS_IOC_FSSETXATTR", path: workspace.path)
    }

    /// Sets project `id` on every directory (with the inherit flag) and regular file beneath
    /// `directory`, never following a symlink. Other kinds keep their id (they hold no blocks).
    private func tagEntries(of directory: Int32, _ id: UInt32, path: String) throws(WorkspaceError) {
        let (names, error) = Syscall.entries(of: directory)
        guard error == 0 else { throw WorkspaceError.failed("readdir", path: path, errno: error) }
        for name in names {
            let childPath = path + "/" + String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let (info, statError) = name.withUnsafeBufferPointer { Syscall.statEntry($0.baseAddress!, in: directory) }
            guard let info else { throw WorkspaceError.failed("fstatat", path: childPath, errno: statError) }
            let kind = info.st_mode & S_IFMT
            guard kind == S_IFDIR || kind == S_IFREG else { continue }
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (kind == S_IFDIR ? O_DIRECTORY : 0)
            let (fd, openError) = name.withUnsafeBufferPointer { pointer in
                Syscall.retrying { openat(directory, pointer.baseAddress!, flags) }
            }
            guard fd >= 0 else { throw WorkspaceError.failed("open", path: childPath, errno: openError) }
            defer { close(fd) }
            if kind == S_IFDIR { try tagEntries(of: fd, id, path: childPath) }
            try check(ProjectQuota.setProject(fd, id, inherit: kind == S_IFDIR), "FS_IOC_FSSETXATTR", path: childPath)
        }
    }

    /// Turns a `-errno` result of a quota call into an error that says what to do.
    private func check(_ result: Int32, _ operation: String, path: String) throws(WorkspaceError) {
        guard result != 0 else { return }
        let error = -result
        switch error {
        case EPERM:
            throw WorkspaceError(
                .sizeLimitUnavailable, path: path, operation: operation, errno: error,
                operation == "Q_SETQUOTA"
                    ? "setting a project quota needs CAP_SYS_ADMIN, which the daemon lacks: keep it in the unit's "
                        + "CapabilityBoundingSet= (the installed unit has it) and allow quotactl_fd in SystemCallFilter="
                    : "setting a project id needs CAP_FOWNER in the initial user namespace, which the daemon lacks")
        case ESRCH, ENOSYS, EOPNOTSUPP, ENOTTY:
            throw WorkspaceError(
                .sizeLimitUnavailable, path: path, operation: operation, errno: error,
                "project quotas are not on for the workspace root's file system (any more?): remount it with "
                    + "prjquota (ext4) or pquota (XFS)")
        default:
            throw WorkspaceError.failed(operation, path: path, errno: error)
        }
    }
}
