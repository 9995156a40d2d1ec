import Glibc
import SandboxPolicy

/// Resolves workspace names to directories under one workspace root, on the host, never following a
/// symlink.
///
/// How the race is closed (a symlink swapped in between our check and the engine's mount): the
/// engine resolves the bind source itself, in its own process, so handing it `/proc/self/fd/N` would
/// name the engine's fd table, not ours. Instead:
/// 1. `resolve` walks the root from `/` and then the workspace with `openat(O_NOFOLLOW |
///    O_DIRECTORY)` per component and keeps the workspace open (`ResolvedWorkspace.descriptor`);
/// 2. the create body names exactly `ResolvedWorkspace.path`;
/// 3. after create, `ReadBack.verify` checks that the engine's mount source is that path, and
///    `ResolvedWorkspace.verifyUnchanged()` walks the path again with O_NOFOLLOW and checks that it
///    still leads to the same directory (`st_dev`, `st_ino`) as the descriptor. Only then does the
///    daemon start the container (the bind is made at start).
/// Between that check and the start, only a writer of the workspace root could swap the directory;
/// no sandbox can (the root is never mounted into one, and each sandbox sees only its own workspace).
/// So the root must be writable by the daemon alone.
public struct WorkspaceResolver: Sendable {
    /// The workspace root: absolute, normalised, reached without symlinks.
    public let root: String

    /// - Throws: `WorkspaceError.invalidRoot` when `root` is not an absolute normalised path, or
    ///   overlaps a system directory or the Docker socket (`/`, `/var`, `/run`, ...).
    public init(root: String) throws(WorkspaceError) {
        let root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        guard HostPathGuard.isNormalizedAbsolute(root), root != "/" else {
            throw WorkspaceError(
                .invalidRoot, path: root, "the workspace root must be an absolute path without . or .. or //, and not /"
            )
        }
        switch HostPathGuard.refusal(for: root) {
        case .dockerSocket(let socket):
            throw WorkspaceError(
                .invalidRoot, path: root,
                "overlaps the Docker socket \(socket); choose e.g. /var/lib/sandcastle/workspaces")
        case .systemTree(let tree):
            throw WorkspaceError(
                .invalidRoot, path: root,
                "overlaps the system directory \(tree); choose e.g. /var/lib/sandcastle/workspaces")
        case nil:
            self.root = root
        }
    }

    /// Opens the workspace `name`, creating it when `owner` is given and it does not exist yet.
    ///
    /// A new workspace is made with `mkdirat` and then, through the opened descriptor, owned by
    /// `owner` (uid and gid) with mode 0700.
    ///
    /// - Throws: `WorkspaceError` with `invalidName`, `symlink` (anywhere on the path),
    ///   `notADirectory`, `notFound` (when `owner` is nil), or `systemCall`.
    public func resolve(_ name: String, creatingFor owner: WorkspaceUser? = nil) throws(WorkspaceError)
        -> ResolvedWorkspace
    {
        try Self.checkName(name)
        let path = root + "/" + name
        let rootFD = try Syscall.openDirectoryWalking(root)
        defer { close(rootFD) }
        var (fd, error) = Syscall.openDirectory(name, in: rootFD)
        var created = false
        if fd < 0, error == ENOENT, let owner {
            let made = Syscall.retrying { mkdirat(rootFD, name, 0o700) }
            guard made.result == 0 || made.errno == EEXIST else {
                throw WorkspaceError.failed("mkdirat", path: path, errno: made.errno)
            }
            created = made.result == 0
            (fd, error) = Syscall.openDirectory(name, in: rootFD)
            if fd >= 0, created {
                let owned = Syscall.retrying { fchown(fd, owner.uid, owner.gid) }
                let moded = owned.result == 0 ? Syscall.retrying { fchmod(fd, 0o700) } : owned
                if moded.result != 0 {
                    close(fd)
                    throw WorkspaceError.failed(owned.result == 0 ? "fchmod" : "fchown", path: path, errno: moded.errno)
                }
            }
        }
        guard fd >= 0 else { throw Syscall.openFailure(name, in: rootFD, path: path, errno: error) }
        let (info, statError) = Syscall.statDescriptor(fd)
        guard let info else {
            close(fd)
            throw WorkspaceError.failed("fstat", path: path, errno: statError)
        }
        return ResolvedWorkspace(
            name: name, path: path, descriptor: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    package static func checkName(_ name: String) throws(WorkspaceError) {
        if let problem = WorkspaceName.problem(name) {
            throw WorkspaceError(.invalidName, path: name, "invalid workspace name: \(problem)")
        }
    }
}

/// A workspace directory, open. The descriptor pins the directory that was checked; it is closed
/// when this object goes away.
public final class ResolvedWorkspace: Sendable {
    public let name: String
    /// `root/name`: the bind source for the create body.
    public let path: String
    /// An `O_RDONLY | O_DIRECTORY` descriptor of the directory.
    public let descriptor: Int32
    public let device: UInt64
    public let inode: UInt64

    init(name: String, path: String, descriptor: Int32, device: UInt64, inode: UInt64) {
        self.name = name
        self.path = path
        self.descriptor = descriptor
        self.device = device
        self.inode = inode
    }

    deinit {
        close(descriptor)
    }

    /// Walks `path` again from `/` with O_NOFOLLOW per component and checks that it leads to the
    /// directory this object holds open (same `st_dev` and `st_ino`).
    ///
    /// - Throws: `WorkspaceError.changed` when it leads elsewhere; `symlink` and the like when it no
    ///   longer resolves.
    public func verifyUnchanged() throws(WorkspaceError) {
        let fd = try Syscall.openDirectoryWalking(path)
        defer { close(fd) }
        let (info, statError) = Syscall.statDescriptor(fd)
        guard let info else { throw WorkspaceError.failed("fstat", path: path, errno: statError) }
        guard UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
            throw WorkspaceError(
                .changed, path: path,
                "no longer the directory that was resolved (device/inode \(device)/\(inode), "
                    + "now \(info.st_dev)/\(info.st_ino)); "
                    + "do not start the container")
        }
    }
}
