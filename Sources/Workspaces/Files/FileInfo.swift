import Glibc

/// What the API reports about one entry: never a symlink's target's attributes, only the link's.
public struct FileInfo: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case file, directory, symlink, fifo, socket
        case charDevice = "char-device"
        case blockDevice = "block-device"
    }

    /// The last component's raw bytes (empty for the workspace's top).
    public var name: [UInt8]
    public var kind: Kind
    public var size: Int64
    /// Permission bits, with setuid, setgid and sticky (`st_mode & 07777`).
    public var mode: UInt32
    /// Modification time in nanoseconds since the epoch.
    public var mtimeNanoseconds: Int64
    public var uid: UInt32
    public var gid: UInt32
    /// For a symlink, what it points to (as stored; never resolved).
    public var linkTarget: [UInt8]?
    /// For a regular file: changes whenever its content may have (device, inode, size, mtime).
    public var etag: String?

    init(name: [UInt8], stat info: stat, linkTarget: [UInt8]? = nil) {
        self.name = name
        kind = Self.kind(of: info.st_mode)
        size = Int64(info.st_size)
        mode = UInt32(info.st_mode & 0o7777)
        mtimeNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        uid = info.st_uid
        gid = info.st_gid
        self.linkTarget = linkTarget
        etag = kind == .file ? Self.etag(info) : nil
    }

    static func kind(of mode: mode_t) -> Kind {
        switch mode & S_IFMT {
        case S_IFDIR: .directory
        case S_IFLNK: .symlink
        case S_IFIFO: .fifo
        case S_IFSOCK: .socket
        case S_IFCHR: .charDevice
        case S_IFBLK: .blockDevice
        default: .file
        }
    }

    /// A strong validator: an atomic write replaces the inode, an in-place edit changes size or mtime.
    static func etag(_ info: stat) -> String {
        let mtime = UInt64(info.st_mtim.tv_sec) &* 1_000_000_000 &+ UInt64(info.st_mtim.tv_nsec)
        return "\"" + [UInt64(info.st_dev), UInt64(info.st_ino), UInt64(info.st_size), mtime]
            .map { String($0, radix: 16) }.joined(separator: "-") + "\""
    }

    /// Like `read`, but nil when there is no such entry.
    static func readIfPresent(_ name: [UInt8], in parent: Int32, path: WorkspacePath) throws(WorkspaceFileError) -> FileInfo? {
        do { return try read(name, in: parent, path: path) } catch {
            if error.code == .notFound { return nil }
            throw error
        }
    }

    /// Reads the entry `name` in `parent` without following it.
    static func read(_ name: [UInt8], in parent: Int32, path: WorkspacePath) throws(WorkspaceFileError) -> FileInfo {
        let (info, error) = FileWalk.stat(name, in: parent)
        guard let info else { throw WorkspaceFileError.failed("fstatat", path: path.description, errno: error) }
        var target: [UInt8]?
        if info.st_mode & S_IFMT == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
            let count = readlinkat(parent, FileWalk.cName(name), &buffer, buffer.count)
            if count >= 0 { target = buffer.prefix(count).map { UInt8(bitPattern: $0) } }
        }
        return FileInfo(name: name, stat: info, linkTarget: target)
    }
}
