import Glibc
import SandboxPolicy

/// The directory of workspace images and the images in it. Blocking file system calls.
enum ImageDirectory {
    /// Opens the image directory, walking it from `/` without following a symlink; makes it (0700)
    /// when only its last component is missing.
    ///
    /// - Throws: `invalidRoot` when it is not owned by the daemon's uid or is writable by others.
    static func open(_ path: String) throws(WorkspaceError) -> Int32 {
        let fd: Int32
        do {
            fd = try Syscall.openDirectoryWalking(path)
        } catch where error.code == .notFound {
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            let parentPath = slash == path.startIndex ? "/" : String(path[..<slash])
            let parent = try Syscall.openDirectoryWalking(parentPath)
            defer { close(parent) }
            let name = String(path[path.index(after: slash)...])
            let made = Syscall.retrying { mkdirat(parent, name, 0o700) }
            guard made.result == 0 || made.errno == EEXIST else {
                throw WorkspaceError.failed("mkdirat", path: path, errno: made.errno)
            }
            let (opened, error) = Syscall.openDirectory(name, in: parent)
            guard opened >= 0 else { throw Syscall.openFailure(name, in: parent, path: path, errno: error) }
            fd = opened
        }
        let (info, error) = Syscall.statDescriptor(fd)
        guard let info, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            close(fd)
            if info == nil { throw WorkspaceError.failed("fstat", path: path, errno: error) }
            throw WorkspaceError(
                .invalidRoot, path: path,
                "the workspace image directory must belong to the daemon's user and be writable by it alone "
                    + "(chown root, chmod 0700)")
        }
        return fd
    }

    static func openImage(_ name: String, in directory: Int32, path: String) throws(WorkspaceError) -> Int32 {
        let (fd, error) = Syscall.retrying { openat(directory, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw WorkspaceError.failed("open image", path: path, errno: error) }
        return fd
    }

    /// Checks that `fd` is an image the limiter made: a regular file of the daemon's uid, mode 0600,
    /// with one link.
    ///
    /// - Returns: the file's size.
    @discardableResult
    static func checkImage(_ fd: Int32, path: String) throws(WorkspaceError) -> Int64 {
        let (info, error) = Syscall.statDescriptor(fd)
        guard let info else { throw WorkspaceError.failed("fstat", path: path, errno: error) }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(), info.st_mode & 0o077 == 0, info.st_nlink == 1
        else {
            throw WorkspaceError(
                .badImage, path: path,
                "the workspace image must be a regular file of the daemon's user, mode 0600, with one link; "
                    + "it is not, so it was not made by Sandcastle: move it away")
        }
        return Int64(info.st_size)
    }

    static func readSuperblock(_ fd: Int32, path: String) throws(WorkspaceError) -> Ext4Superblock {
        var bytes = [UInt8](repeating: 0, count: Ext4Superblock.length)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(Ext4Superblock.offset)) }
        guard count >= 0 else { throw WorkspaceError.failed("pread", path: path, errno: errno) }
        guard count == Ext4Superblock.length, let superblock = Ext4Superblock(bytes) else {
            throw WorkspaceError(
                .badImage, path: path,
                "the workspace image holds no ext4 file system; move it away (the workspace starts empty) "
                    + "or repair it with e2fsck")
        }
        return superblock
    }

    /// Sets the image file's size (sparse: nothing is written).
    static func setSize(_ fd: Int32, _ size: Int64, path: String) throws(WorkspaceError) {
        let result = Syscall.retrying { ftruncate(fd, off_t(size)) }
        if result.result != 0 { throw WorkspaceError.failed("ftruncate", path: path, errno: result.errno) }
    }
}

extension MountTable {
    /// This process's mount table.
    static func current(for workspace: String) throws(WorkspaceError) -> MountTable {
        guard let text = FileText.read("/proc/self/mountinfo") else {
            throw WorkspaceError.failed("read /proc/self/mountinfo", path: workspace, errno: errno)
        }
        return MountTable(text: text)
    }
}
