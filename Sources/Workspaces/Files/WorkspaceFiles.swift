import CLinuxShims
import Glibc
import SandboxPolicy
import Synchronization

/// Limits of the workspace file API.
public struct WorkspaceFileLimits: Sendable, Equatable {
    /// The largest file a write accepts.
    public var maxWriteBytes: Int64
    /// The most entries one listing page returns.
    public var maxPageEntries: Int
    /// A directory with more entries than this is not listed (its names are sorted in memory).
    public var maxDirectoryEntries: Int
    /// The most bytes of file content an archive download or upload may hold.
    public var maxArchiveBytes: Int64
    /// The most entries an archive upload may hold.
    public var maxArchiveEntries: Int

    public init(
        maxWriteBytes: Int64 = 256 << 20, maxPageEntries: Int = 1000, maxDirectoryEntries: Int = 100_000,
        maxArchiveBytes: Int64 = 16 << 30, maxArchiveEntries: Int = 200_000
    ) {
        self.maxWriteBytes = maxWriteBytes
        self.maxPageEntries = maxPageEntries
        self.maxDirectoryEntries = maxDirectoryEntries
        self.maxArchiveBytes = maxArchiveBytes
        self.maxArchiveEntries = maxArchiveEntries
    }
}

/// Files inside workspaces, for the API: list, stat, read, write, mkdir, move, delete, archives.
///
/// Every operation starts from the workspace's directory descriptor (`WorkspaceResolver.resolve`,
/// walked from `/` with O_NOFOLLOW) and reaches paths below it only through `FileWalk`: no symlink
/// or magic link is followed at any step, and later steps are `*at` calls on the opened
/// descriptors, so a sandbox swapping a directory for a symlink meanwhile changes nothing outside.
/// Files are opened `O_NONBLOCK` (a fifo never blocks) and only regular files are read or replaced.
/// What the API creates belongs to the workspace's owner (the directory's uid and gid), with no
/// setuid, setgid or device bits.
///
/// Every method blocks on the file system: call them from a thread pool, never the cooperative
/// executor.
public struct WorkspaceFiles: Sendable {
    public let resolver: WorkspaceResolver
    public let limits: WorkspaceFileLimits

    public init(resolver: WorkspaceResolver, limits: WorkspaceFileLimits = WorkspaceFileLimits()) {
        self.resolver = resolver
        self.limits = limits
    }

    /// Opens an existing workspace.
    public func workspace(_ name: String) throws(WorkspaceFileError) -> OpenWorkspace {
        do {
            let resolved = try resolver.resolve(name)
            guard let info = Syscall.statDescriptor(resolved.descriptor).0 else {
                throw WorkspaceFileError.failed("fstat", path: "/", errno: errno)
            }
            return OpenWorkspace(resolved: resolved, owner: WorkspaceUser(uid: info.st_uid, gid: info.st_gid), limits: limits)
        } catch let error as WorkspaceError {
            switch error.code {
            case .notFound: throw WorkspaceFileError(.notFound, path: "/", "no workspace named \(name)")
            case .invalidName: throw WorkspaceFileError(.invalidPath, path: name, error.message)
            default: throw WorkspaceFileError(.systemCall, path: "/", error.description, errno: error.errno)
            }
        } catch let error as WorkspaceFileError {
            throw error
        } catch {
            throw WorkspaceFileError(.systemCall, path: "/", "\(error)")
        }
    }
}

/// One workspace, open for file operations. Holds the workspace's directory descriptor.
public struct OpenWorkspace: Sendable {
    let resolved: ResolvedWorkspace
    /// Who owns what the API creates: the workspace directory's uid and gid.
    public let owner: WorkspaceUser
    public let limits: WorkspaceFileLimits
    var root: Int32 { resolved.descriptor }
    public var name: String { resolved.name }

    /// The check-and-rename of conditional writes, across all workspaces: short, and only what
    /// makes two writers with the same `If-Match` see one win and one fail.
    static let commitLock = Mutex(())

    // MARK: reading

    public func stat(_ path: WorkspacePath) throws(WorkspaceFileError) -> FileInfo {
        guard let name = path.name else {
            guard let info = Syscall.statDescriptor(root).0 else { throw WorkspaceFileError.failed("fstat", path: "/", errno: errno) }
            return FileInfo(name: [], stat: info)
        }
        let parent = try FileWalk.openDirectory(path.parent, in: root)
        defer { close(parent) }
        return try FileInfo.read(name, in: parent, path: path)
    }

    /// One page of the directory `path`, sorted by name bytes, starting after `after`.
    public func list(_ path: WorkspacePath, after: [UInt8]?, limit: Int) throws(WorkspaceFileError)
        -> (entries: [FileInfo], more: Bool)
    {
        let fd = try FileWalk.openDirectory(path, in: root)
        defer { close(fd) }
        let all = try TreeWalk.names(of: fd, shown: path, atMost: limits.maxDirectoryEntries)
        let names = after.map { after in all.filter { Self.precedes(after, $0) } } ?? all
        let page = names.prefix(min(limit, limits.maxPageEntries))
        var entries: [FileInfo] = []
        for name in page {
            // An entry removed since readdir is left out.
            if let info = try? FileInfo.read(name, in: fd, path: path.appending(name)) { entries.append(info) }
        }
        return (entries, names.count > page.count)
    }

    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    /// Opens the regular file `path` for reading.
    public func openForReading(_ path: WorkspacePath) throws(WorkspaceFileError) -> OpenFile {
        guard let name = path.name else { throw WorkspaceFileError(.isADirectory, path: "/", "is the workspace's directory") }
        let parent = try FileWalk.openDirectory(path.parent, in: root)
        defer { close(parent) }
        // Check the type before opening: opening a device can have effects, a fifo must not be read.
        try Self.requireRegular(try FileInfo.read(name, in: parent, path: path), path)
        let (fd, error) = Syscall.retrying {
            openat(parent, FileWalk.cName(name), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else { throw WorkspaceFileError.failed("openat", path: path.description, errno: error) }
        guard let info = Syscall.statDescriptor(fd).0 else {
            close(fd)
            throw WorkspaceFileError.failed("fstat", path: path.description, errno: errno)
        }
        let file = OpenFile(descriptor: fd, info: FileInfo(name: name, stat: info))
        try Self.requireRegular(file.info, path)
        return file
    }

    static func requireRegular(_ info: FileInfo, _ path: WorkspacePath) throws(WorkspaceFileError) {
        switch info.kind {
        case .file: return
        case .directory: throw WorkspaceFileError(.isADirectory, path: path.description, "is a directory; list it with ?list")
        case .symlink:
            throw WorkspaceFileError(.symlink, path: path.description, "is a symbolic link; the workspace API never follows one")
        default:
            throw WorkspaceFileError(
                .notRegularFile, path: path.description, "is a \(info.kind.rawValue), not a regular file; it is never read or written")
        }
    }

    // MARK: changing

    /// Creates the directory `path` (mode 0755, the workspace's owner). With `parents`, missing
    /// parents are created too and an existing directory is not an error.
    public func makeDirectory(_ path: WorkspacePath, parents: Bool) throws(WorkspaceFileError) -> FileInfo {
        guard let name = path.name else { throw WorkspaceFileError(.exists, path: "/", "is the workspace's directory") }
        let parent = try FileWalk.openDirectory(path.parent, in: root, creatingFor: parents ? owner : nil)
        defer { close(parent) }
        let made = Syscall.retrying { mkdirat(parent, FileWalk.cName(name), 0o755) }
        if made.result != 0 {
            if made.errno == EEXIST, parents, let info = try? FileInfo.read(name, in: parent, path: path), info.kind == .directory {
                return info
            }
            throw WorkspaceFileError.failed("mkdirat", path: path.description, errno: made.errno)
        }
        let fd = try FileWalk.open(WorkspacePath(components: [name]), in: parent, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        _ = Syscall.retrying { fchown(fd, owner.uid, owner.gid) }
        _ = Syscall.retrying { fchmod(fd, 0o755) }
        return try FileInfo.read(name, in: parent, path: path)
    }

    /// Renames `source` to `destination`; without `overwrite` an existing destination is an error.
    public func move(_ source: WorkspacePath, to destination: WorkspacePath, overwrite: Bool, parents: Bool)
        throws(WorkspaceFileError) -> FileInfo
    {
        guard let from = source.name, let to = destination.name else {
            throw WorkspaceFileError(.invalidPath, path: "/", "the workspace's directory cannot be moved or replaced")
        }
        guard !source.contains(destination) else {
            throw WorkspaceFileError(.invalidPath, path: destination.description, "is inside \(source), which is being moved")
        }
        let sourceParent = try FileWalk.openDirectory(source.parent, in: root)
        defer { close(sourceParent) }
        let destinationParent = try FileWalk.openDirectory(destination.parent, in: root, creatingFor: parents ? owner : nil)
        defer { close(destinationParent) }
        let flags = overwrite ? 0 : CLinuxShims_RENAME_NOREPLACE
        let renamed = Syscall.retrying {
            CLinuxShims_renameat2(sourceParent, FileWalk.cName(from), destinationParent, FileWalk.cName(to), flags)
        }
        guard renamed.result == 0 else {
            let path = renamed.errno == ENOENT ? source : destination
            throw WorkspaceFileError.failed("renameat2", path: path.description, errno: renamed.errno)
        }
        return try FileInfo.read(to, in: destinationParent, path: destination)
    }

    /// Deletes `path`: a directory only with `recursive` (then everything in it, never following a
    /// symlink). The workspace's top with `recursive` is emptied, not removed.
    public func delete(_ path: WorkspacePath, recursive: Bool) throws(WorkspaceFileError) {
        guard let name = path.name else {
            guard recursive else { throw WorkspaceFileError(.notEmpty, path: "/", "the workspace's top is emptied only with recursive=true") }
            try removeTree([46], in: root, path: path, keep: true)
            return
        }
        let parent = try FileWalk.openDirectory(path.parent, in: root)
        defer { close(parent) }
        let info = try FileInfo.read(name, in: parent, path: path)
        if info.kind == .directory {
            guard recursive else {
                let removed = Syscall.retrying { unlinkat(parent, FileWalk.cName(name), AT_REMOVEDIR) }
                if removed.result != 0 { throw WorkspaceFileError.failed("unlinkat", path: path.description, errno: removed.errno) }
                return
            }
            try removeTree(name, in: parent, path: path, keep: false)
        } else {
            let removed = Syscall.retrying { unlinkat(parent, FileWalk.cName(name), 0) }
            if removed.result != 0 { throw WorkspaceFileError.failed("unlinkat", path: path.description, errno: removed.errno) }
        }
    }

    /// Removes the directory `name` in `parent` and all below it (its contents only with `keep`).
    func removeTree(_ name: [UInt8], in parent: Int32, path: WorkspacePath, keep: Bool) throws(WorkspaceFileError) {
        guard let info = Syscall.statDescriptor(root).0 else { throw WorkspaceFileError.failed("fstat", path: "/", errno: errno) }
        let cName = FileWalk.cName(name)
        do {
            var tree = TreeRemoval(device: UInt64(info.st_dev), path: path.description)
            try tree.removeContents(of: cName, in: parent)
            if !keep { try TreeRemoval.unlink(cName, in: parent, directory: true, path: path.description) }
        } catch {
            throw WorkspaceFileError(
                error.code == .crossesMount ? .notEmpty : .systemCall, path: path.description, error.message, errno: error.errno)
        }
    }
}

/// A regular file open for reading.
public final class OpenFile: Sendable {
    public let descriptor: Int32
    public let info: FileInfo

    init(descriptor: Int32, info: FileInfo) {
        self.descriptor = descriptor
        self.info = info
    }

    deinit { close(descriptor) }

    /// Reads up to `buffer.count` bytes at `offset`; 0 at the end. Blocks.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(WorkspaceFileError) -> Int {
        while true {
            let count = pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 { return count }
            if errno != EINTR { throw WorkspaceFileError.failed("pread", path: String(decoding: info.name, as: UTF8.self), errno: errno) }
        }
    }
}
