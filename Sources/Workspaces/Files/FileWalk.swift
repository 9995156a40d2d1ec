import CLinuxShims
import Glibc
import SandboxPolicy
import Synchronization

/// Opening paths beneath a workspace's directory descriptor without following a symlink or a magic
/// link at any step: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or,
/// where the kernel lacks openat2 (before 5.6, or a seccomp filter refusing it), the same walk one
/// component at a time with `O_NOFOLLOW`. Every later step is `*at` on the descriptors opened
/// here, so a directory swapped for a symlink after the walk is never followed. All calls block.
enum FileWalk {
    static let resolve = CLinuxShims_RESOLVE_BENEATH | CLinuxShims_RESOLVE_NO_SYMLINKS | CLinuxShims_RESOLVE_NO_MAGICLINKS
    static let directoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
    /// 1 once openat2 answered ENOSYS: use the O_NOFOLLOW walk from then on.
    private static let openat2Missing = Atomic<Int>(0)

    /// Opens `path` beneath `directory` with `flags` (O_NOFOLLOW and O_CLOEXEC are added).
    static func open(_ path: WorkspacePath, in directory: Int32, flags: Int32, mode: mode_t = 0) throws(WorkspaceFileError) -> Int32 {
        let flags = flags | O_NOFOLLOW | O_CLOEXEC
        if openat2Missing.load(ordering: .relaxed) == 0 {
            let (fd, error) = Syscall.retrying { CLinuxShims_openat2(directory, path.cString, flags, mode, resolve) }
            if fd >= 0 { return fd }
            if error == ENOSYS { openat2Missing.store(1, ordering: .relaxed) }
            // ENOTDIR and ELOOP: the walk below finds which component is what (a symlink opened
            // with O_DIRECTORY answers ENOTDIR) and names it.
            if ![ENOSYS, EPERM, ENOTDIR, ELOOP].contains(error) {
                throw WorkspaceFileError.failed("openat2", path: path.description, errno: error)
            }
        }
        var current = directory
        defer { if current != directory { close(current) } }
        if path.isRoot { return try checked(openat(directory, ".", flags, mode), "openat", path) }
        for (index, name) in path.components.enumerated() {
            let last = index == path.components.count - 1
            let cName = name.map { CChar(bitPattern: $0) } + [0]
            let (fd, error) = Syscall.retrying { openat(current, cName, last ? flags : directoryFlags, mode) }
            guard fd >= 0 else {
                let shown = WorkspacePath(components: Array(path.components[...index])).description
                let isLink = (error == ENOTDIR || error == ELOOP) && stat(name, in: current).0.map { $0.st_mode & S_IFMT == S_IFLNK } == true
                throw WorkspaceFileError.failed("openat", path: shown, errno: isLink ? ELOOP : error)
            }
            if current != directory { close(current) }
            if last { current = directory; return fd }
            current = fd
        }
        preconditionFailure("unreachable")
    }

    /// Opens the directory `path`; with `owner`, creates the missing ones (mode 0755, owned by
    /// `owner`) one at a time, each created with `mkdirat` in its opened parent.
    static func openDirectory(_ path: WorkspacePath, in directory: Int32, creatingFor owner: WorkspaceUser? = nil)
        throws(WorkspaceFileError) -> Int32
    {
        guard let owner else { return try open(path, in: directory, flags: O_RDONLY | O_DIRECTORY) }
        var fd = try checked(openat(directory, ".", directoryFlags), "openat", WorkspacePath(components: []))
        for index in path.components.indices {
            let step = WorkspacePath(components: [path.components[index]])
            let shown = WorkspacePath(components: Array(path.components[...index]))
            do {
                let next = try open(step, in: fd, flags: O_RDONLY | O_DIRECTORY)
                close(fd)
                fd = next
                continue
            } catch where error.code == .notFound {
            } catch {
                close(fd)
                throw WorkspaceFileError(error.code, path: shown.description, error.message, errno: error.errno)
            }
            let made = Syscall.retrying { mkdirat(fd, step.cString, 0o755) }
            if made.result != 0 && made.errno != EEXIST {
                close(fd)
                throw WorkspaceFileError.failed("mkdirat", path: shown.description, errno: made.errno)
            }
            let next: Int32
            do { next = try open(step, in: fd, flags: O_RDONLY | O_DIRECTORY) } catch {
                close(fd)
                throw error
            }
            close(fd)
            fd = next
            if made.result == 0 {
                _ = Syscall.retrying { fchown(fd, owner.uid, owner.gid) }
                _ = Syscall.retrying { fchmod(fd, 0o755) }
            }
        }
        return fd
    }

    static func checked(_ result: Int32, _ operation: String, _ path: WorkspacePath) throws(WorkspaceFileError) -> Int32 {
        guard result >= 0 else { throw WorkspaceFileError.failed(operation, path: path.description, errno: errno) }
        return result
    }

    /// `fstatat(parent, name, AT_SYMLINK_NOFOLLOW)`.
    static func stat(_ name: [UInt8], in parent: Int32) -> (Glibc.stat?, errno: Int32) {
        Syscall.statEntry(cName(name), in: parent)
    }

    static func cName(_ name: [UInt8]) -> [CChar] { name.map { CChar(bitPattern: $0) } + [0] }
}
