import CArchive
import CLinuxShims
import Glibc

extension OpenWorkspace {
    /// Unpacks a tar stream (plain, gzip, zstd, ... detected) into the directory `path`, which
    /// must not exist or be empty. `read` returns the next bytes of the upload, nil at its end.
    ///
    /// Everything is unpacked into a staging directory beside the target (owned by the daemon,
    /// mode 0700, so the sandbox cannot reach into it meanwhile), each entry created by this code
    /// through descriptors (libarchive only parses; it never writes by path), owned by the
    /// workspace's uid and gid. Only when the whole archive was read is the staging directory
    /// renamed into place; any refusal or failure removes it, leaving nothing half-written.
    ///
    /// Refuses (`unsafeEntry`) absolute paths, `..`, symlinks or hard links leading outside the
    /// target, devices, sockets, setuid and setgid bits; (`tooLarge`) more than
    /// `limits.maxArchiveEntries` entries or `limits.maxArchiveBytes` bytes of content. Blocks.
    public func unpackArchive(into path: WorkspacePath, read: @escaping () throws -> [UInt8]?) throws(WorkspaceFileError)
        -> ArchiveSummary
    {
        let parent = try FileWalk.openDirectory(path.isRoot ? path : path.parent, in: root, creatingFor: owner)
        defer { close(parent) }
        try requireEmptyOrMissing(path, parent: parent)
        let stagingName = Array(".sandcastle-unpack-\(UInt64.random(in: 0...UInt64.max))".utf8)
        let made = Syscall.retrying { mkdirat(parent, FileWalk.cName(stagingName), 0o700) }
        guard made.result == 0 else { throw WorkspaceFileError.failed("mkdirat", path: path.description, errno: made.errno) }
        var done = false
        defer { if !done { try? removeTree(stagingName, in: parent, path: path, keep: false) } }
        let staging = try FileWalk.open(WorkspacePath(components: [stagingName]), in: parent, flags: O_RDONLY | O_DIRECTORY)
        defer { close(staging) }

        var unpacker = Unpacker(workspace: self, staging: staging, target: path)
        let summary = try unpacker.run(read: read)
        try unpacker.finish()

        if path.isRoot {
            try requireEmptyOrMissing(path, parent: parent, ignoring: stagingName)
            for name in try TreeWalk.names(of: staging, shown: path) {
                let moved = Syscall.retrying {
                    CLinuxShims_renameat2(staging, FileWalk.cName(name), root, FileWalk.cName(name), CLinuxShims_RENAME_NOREPLACE)
                }
                if moved.result != 0 { throw WorkspaceFileError.failed("renameat2", path: path.appending(name).description, errno: moved.errno) }
            }
            done = true
            _ = unlinkat(parent, FileWalk.cName(stagingName), AT_REMOVEDIR)
        } else {
            let moved = Syscall.retrying { renameat(parent, FileWalk.cName(stagingName), parent, FileWalk.cName(path.name!)) }
            if moved.result != 0 { throw WorkspaceFileError.failed("renameat", path: path.description, errno: moved.errno) }
            done = true
        }
        return summary
    }

    /// 409 unless `path` is missing or an empty directory (apart from `ignoring`).
    private func requireEmptyOrMissing(_ path: WorkspacePath, parent: Int32, ignoring: [UInt8]? = nil) throws(WorkspaceFileError) {
        let fd: Int32
        if let name = path.name {
            guard let info = FileWalk.stat(name, in: parent).0 else { return }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw WorkspaceFileError(.exists, path: path.description, "exists and is not a directory; archives unpack into a new or empty directory")
            }
            fd = try FileWalk.open(WorkspacePath(components: [name]), in: parent, flags: O_RDONLY | O_DIRECTORY)
        } else {
            fd = dup(root)
        }
        defer { close(fd) }
        let names = try TreeWalk.names(of: fd, shown: path).filter { $0 != ignoring }
        guard names.isEmpty else {
            throw WorkspaceFileError(
                .notEmpty, path: path.description,
                "is not empty (\(names.count) entries); archives unpack into a new or empty directory: delete it first with recursive=true")
        }
    }
}

/// Reads one archive and creates its entries below the staging directory.
private struct Unpacker {
    let workspace: OpenWorkspace
    let staging: Int32
    let target: WorkspacePath
    /// Directories get their modes and mtimes once everything inside them is written.
    var directories: [(path: WorkspacePath, mode: mode_t, mtime: timespec)] = []
    var rootAttributes: (mode: mode_t, mtime: timespec)?
    var summary = ArchiveSummary(entries: 0, bytes: 0)

    init(workspace: OpenWorkspace, staging: Int32, target: WorkspacePath) {
        self.workspace = workspace
        self.staging = staging
        self.target = target
    }

    var owner: (uid: UInt32, gid: UInt32) { (workspace.owner.uid, workspace.owner.gid) }

    mutating func run(read: @escaping () throws -> [UInt8]?) throws(WorkspaceFileError) -> ArchiveSummary {
        let source = ArchiveSource(read: read)
        guard let archive = archive_read_new() else { throw WorkspaceFileError(.systemCall, path: target.description, "archive_read_new failed") }
        defer { archive_read_free(archive) }
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        let context = Unmanaged.passUnretained(source).toOpaque()
        let opened = archive_read_open2(archive, context, nil, { archive, context, buffer in
            let source = Unmanaged<ArchiveSource>.fromOpaque(context!).takeUnretainedValue()
            return source.next(buffer!)
        }, nil, nil)
        try check(opened, archive, source)
        while true {
            var entry: OpaquePointer?
            let result = archive_read_next_header(archive, &entry)
            if result == ARCHIVE_EOF { break }
            try check(result, archive, source)
            summary.entries += 1
            guard summary.entries <= workspace.limits.maxArchiveEntries else {
                throw WorkspaceFileError(.tooLarge, path: target.description, "the archive has more than \(workspace.limits.maxArchiveEntries) entries")
            }
            try unpack(entry!, archive, source)
        }
        return summary
    }

    /// Applies the directories' modes and mtimes (deepest first) and gives the staging directory
    /// (the target to be) to the workspace's owner.
    func finish() throws(WorkspaceFileError) {
        for directory in directories.reversed() {
            guard let fd = try? FileWalk.openDirectory(directory.path, in: staging) else { continue }
            _ = fchmod(fd, directory.mode)
            var times = [directory.mtime, directory.mtime]
            _ = futimens(fd, &times)
            close(fd)
        }
        _ = fchown(staging, owner.uid, owner.gid)
        _ = fchmod(staging, rootAttributes?.mode ?? 0o755)
        if var times = rootAttributes.map({ [$0.mtime, $0.mtime] }) { _ = futimens(staging, &times) }
    }

    private mutating func unpack(_ entry: OpaquePointer, _ archive: OpaquePointer, _ source: ArchiveSource) throws(WorkspaceFileError) {
        guard let rawPath = archive_entry_pathname(entry) else {
            throw WorkspaceFileError(.unsafeEntry, path: target.description, "an entry has no path the archive can decode")
        }
        let path = try Self.relative(bytes(rawPath), in: target, what: "path")
        let mode = archive_entry_mode(entry)
        let type = mode & S_IFMT
        let shown = target.appending(path.components.flatMap { $0 + [47] }.dropLast()).description
        if mode & (S_ISUID | S_ISGID) != 0 {
            throw WorkspaceFileError(.unsafeEntry, path: shown, "has the setuid or setgid bit; such files are never unpacked")
        }
        let permissions = mode & 0o1777
        let mtime = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry))
        guard let name = path.name else {
            if type == S_IFDIR { rootAttributes = (permissions, mtime) }
            return
        }
        let parent = try FileWalk.openDirectory(path.parent, in: staging, creatingFor: workspace.owner)
        defer { close(parent) }
        let cName = FileWalk.cName(name)
        // A later entry of the same name replaces an earlier file (tar's rule); never a directory.
        if let existing = FileWalk.stat(name, in: parent).0 {
            if existing.st_mode & S_IFMT == S_IFDIR {
                guard type == S_IFDIR, archive_entry_hardlink(entry) == nil else {
                    throw WorkspaceFileError(.unsafeEntry, path: shown, "replaces a directory the archive made earlier")
                }
            } else {
                _ = unlinkat(parent, cName, 0)
            }
        }
        if let link = archive_entry_hardlink(entry) {
            let linked = try Self.relative(bytes(link), in: target, what: "hard link target")
            guard let linkedName = linked.name else { throw WorkspaceFileError(.unsafeEntry, path: shown, "is a hard link to a directory") }
            let linkedParent = try FileWalk.openDirectory(linked.parent, in: staging)
            defer { close(linkedParent) }
            guard let info = FileWalk.stat(linkedName, in: linkedParent).0, info.st_mode & S_IFMT == S_IFREG else {
                throw WorkspaceFileError(.unsafeEntry, path: shown, "is a hard link to something that is not a file the archive made earlier")
            }
            let result = linkat(linkedParent, FileWalk.cName(linkedName), parent, cName, 0)
            if result != 0 { throw WorkspaceFileError.failed("linkat", path: shown, errno: errno) }
            return
        }
        switch type {
        case S_IFREG:
            let fd = openat(parent, cName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw WorkspaceFileError.failed("openat", path: shown, errno: errno) }
            defer { close(fd) }
            _ = fchown(fd, owner.uid, owner.gid)
            while true {
                var block: UnsafeRawPointer?
                var size = 0
                var offset: la_int64_t = 0
                let result = archive_read_data_block(archive, &block, &size, &offset)
                if result == ARCHIVE_EOF { break }
                try check(result, archive, source)
                summary.bytes += Int64(size)
                guard summary.bytes <= workspace.limits.maxArchiveBytes else {
                    throw WorkspaceFileError(.tooLarge, path: shown, "the archive holds more than \(workspace.limits.maxArchiveBytes) bytes of files")
                }
                var done = 0
                while done < size {
                    let written = pwrite(fd, block! + done, size - done, off_t(offset) + off_t(done))
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw WorkspaceFileError.failed("pwrite", path: shown, errno: errno)
                    }
                    done += written
                }
            }
            // Sparse files end in a hole: the size comes from the header.
            if archive_entry_size_is_set(entry) != 0 {
                let size = archive_entry_size(entry)
                guard size <= workspace.limits.maxArchiveBytes else {
                    throw WorkspaceFileError(.tooLarge, path: shown, "is \(size) bytes, more than the archive limit of \(workspace.limits.maxArchiveBytes)")
                }
                _ = ftruncate(fd, off_t(size))
            }
            _ = fchmod(fd, permissions & 0o777)
            var times = [mtime, mtime]
            _ = futimens(fd, &times)
        case S_IFDIR:
            let made = mkdirat(parent, cName, 0o700)
            if made != 0, errno != EEXIST { throw WorkspaceFileError.failed("mkdirat", path: shown, errno: errno) }
            _ = fchownat(parent, cName, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW)
            directories.append((path, permissions, mtime))
        case S_IFLNK:
            guard let rawTarget = archive_entry_symlink(entry) else {
                throw WorkspaceFileError(.unsafeEntry, path: shown, "is a symlink without a target")
            }
            let linkTarget = bytes(rawTarget)
            try Self.checkLinkStaysInside(linkTarget, from: path.parent, shown: shown)
            if symlinkat(rawTarget, parent, cName) != 0 { throw WorkspaceFileError.failed("symlinkat", path: shown, errno: errno) }
            _ = fchownat(parent, cName, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW)
            var times = [mtime, mtime]
            _ = utimensat(parent, cName, &times, AT_SYMLINK_NOFOLLOW)
        case S_IFIFO:
            if mkfifoat(parent, cName, permissions & 0o777) != 0 { throw WorkspaceFileError.failed("mkfifoat", path: shown, errno: errno) }
            _ = fchownat(parent, cName, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW)
            var times = [mtime, mtime]
            _ = utimensat(parent, cName, &times, AT_SYMLINK_NOFOLLOW)
        default:
            let kind = FileInfo.kind(of: type).rawValue
            throw WorkspaceFileError(.unsafeEntry, path: shown, "is a \(kind); devices and sockets are never unpacked")
        }
    }

    /// An entry's path below the target: no leading `/`, no `..`; `.` and empty components dropped.
    static func relative(_ raw: [UInt8], in target: WorkspacePath, what: String) throws(WorkspaceFileError) -> WorkspacePath {
        let shown = WorkspacePath.display(raw)
        guard raw.first != UInt8(ascii: "/") else {
            throw WorkspaceFileError(.unsafeEntry, path: shown, "has an absolute \(what); archives hold paths relative to their directory")
        }
        let parts = raw.split(separator: UInt8(ascii: "/")).map(Array.init).filter { $0 != [46] }
        guard !parts.contains([46, 46]) else {
            throw WorkspaceFileError(.unsafeEntry, path: shown, "has .. in its \(what); it could leave the target")
        }
        do { return try WorkspacePath(bytes: Array(parts.joined(separator: [47]))) } catch {
            throw WorkspaceFileError(.unsafeEntry, path: shown, error.message)
        }
    }

    /// Refuses an absolute symlink, or a relative one whose `..` climb above the target.
    static func checkLinkStaysInside(_ link: [UInt8], from directory: WorkspacePath, shown: String) throws(WorkspaceFileError) {
        guard link.first != UInt8(ascii: "/") else {
            throw WorkspaceFileError(.unsafeEntry, path: shown, "is a symlink to an absolute path; it would leave the target")
        }
        var depth = directory.components.count
        for part in link.split(separator: UInt8(ascii: "/")) {
            if Array(part) == [46, 46] {
                depth -= 1
                guard depth >= 0 else { throw WorkspaceFileError(.unsafeEntry, path: shown, "is a symlink leading outside the target") }
            } else if Array(part) != [46] {
                depth += 1
            }
        }
    }

    private func check(_ result: Int32, _ archive: OpaquePointer, _ source: ArchiveSource) throws(WorkspaceFileError) {
        guard result < ARCHIVE_WARN else { return }
        if let error = source.failure as? WorkspaceFileError { throw error }
        if let error = source.failure { throw WorkspaceFileError(.badArchive, path: target.description, "reading the upload failed: \(error)") }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        throw WorkspaceFileError(.badArchive, path: target.description, "not a readable tar archive: \(message)")
    }

    private func bytes(_ pointer: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }
    }
}

/// The upload behind libarchive's read callback: keeps the chunk libarchive is reading alive until
/// the next call.
private final class ArchiveSource {
    let read: () throws -> [UInt8]?
    var current: UnsafeMutableRawBufferPointer?
    var failure: (any Error)?

    init(read: @escaping () throws -> [UInt8]?) { self.read = read }

    deinit { current?.deallocate() }

    func next(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        current?.deallocate()
        current = nil
        do {
            while true {
                guard let chunk = try read() else { return 0 }
                if chunk.isEmpty { continue }
                let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk.count, alignment: 1)
                copy.copyBytes(from: chunk)
                current = copy
                buffer.pointee = UnsafeRawPointer(copy.baseAddress)
                return chunk.count
            }
        } catch {
            failure = error
            return -1
        }
    }
}
