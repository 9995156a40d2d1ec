import CArchive
import Glibc

extension OpenWorkspace {
    /// Writes the directory `path` as a tar stream to `emit`, compressed as asked. Entry names are
    /// relative to `path`. Regular files, directories, symlinks (as links) and fifos are
    /// stored with their modes, mtimes and numeric owners; sockets and devices are left out; hard
    /// links are stored as separate files. `emit` returns false to stop (the client went away).
    ///
    /// A first pass sums the file sizes, so a tree over `limits.maxArchiveBytes` (a huge sparse
    /// file, say) is refused before any byte is sent. It records what it saw (up to
    /// `recordedEntries` entries), so that the second pass reads no directory and stats no entry
    /// again: it only opens the files (and checks each is the one recorded). Blocks: run it on a
    /// thread of its own.
    public func writeArchive(
        of path: WorkspacePath, compression: ArchiveCompression, emit: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws(WorkspaceFileError) -> ArchiveSummary {
        let directory = try FileWalk.openDirectory(path, in: root)
        defer { close(directory) }
        var total: Int64 = 0
        var largest: (size: Int64, path: [UInt8]) = (0, [])
        var records: [TreeWalk.Recorded] = []
        var recording = true
        try TreeWalk.walk(directory, shown: path) { entry throws(WorkspaceFileError) in
            if recording, records.count < Self.recordedEntries {
                records.append(TreeWalk.Recorded(depth: entry.depth, name: entry.name, info: entry.info))
            } else if recording {
                (recording, records) = (false, [])  // a huge tree: walked again instead of held in memory
            }
            guard entry.info.st_mode & S_IFMT == S_IFREG else { return }
            total += Int64(entry.info.st_size)
            if Int64(entry.info.st_size) > largest.size { largest = (Int64(entry.info.st_size), entry.relative) }
        }
        guard total <= limits.maxArchiveBytes else {
            let biggest = path.appending(largest.path).description
            throw WorkspaceFileError(
                .tooLarge, path: path.description,
                "holds \(total) bytes of files, more than the archive limit of \(limits.maxArchiveBytes) (the largest is \(biggest), \(largest.size) bytes)")
        }

        let sink = ArchiveSink(emit: emit)
        guard let archive = archive_write_new() else { throw WorkspaceFileError(.systemCall, path: path.description, "archive_write_new failed") }
        defer { archive_write_free(archive) }
        // The GNU format `tar -c` writes: one 512-byte header per entry (long names and link
        // targets as GNU long-name entries, large sizes and ids in base-256), mtimes to the second.
        // pax adds a 1 KiB extended header to every entry, for the nanoseconds or for any uid over
        // 2^18 (every workspace's): twice the bytes of a tree of small files, through this
        // process and the client.
        archive_write_set_format_gnutar(archive)
        switch compression {
        case .none: break
        case .gzip: archive_write_add_filter_gzip(archive)
        case .zstd: archive_write_add_filter_zstd(archive)
        }
        archive_write_set_bytes_per_block(archive, 64 << 10)
        archive_write_set_bytes_in_last_block(archive, 1)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let opened = archive_write_open2(archive, context, nil, { _, context, buffer, length in
            let sink = Unmanaged<ArchiveSink>.fromOpaque(context!).takeUnretainedValue()
            return sink.emit(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : -1
        }, nil, nil)
        try check(opened, archive, path)

        var summary = ArchiveSummary(entries: 0, bytes: 0)
        guard let entry = archive_entry_new() else { throw WorkspaceFileError(.systemCall, path: path.description, "archive_entry_new failed") }
        defer { archive_entry_free(entry) }
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        func add(_ item: TreeWalk.Entry) throws(WorkspaceFileError) {
            let type = item.info.st_mode & S_IFMT
            guard type == S_IFREG || type == S_IFDIR || type == S_IFLNK || type == S_IFIFO else { return }
            archive_entry_clear(entry)
            archive_entry_copy_pathname(entry, FileWalk.cName(item.relative))
            archive_entry_set_mode(entry, item.info.st_mode)
            archive_entry_set_uid(entry, Int64(item.info.st_uid))
            archive_entry_set_gid(entry, Int64(item.info.st_gid))
            archive_entry_set_mtime(entry, item.info.st_mtim.tv_sec, item.info.st_mtim.tv_nsec)
            archive_entry_set_size(entry, type == S_IFREG ? Int64(item.info.st_size) : 0)
            var file: Int32 = -1
            defer { if file >= 0 { close(file) } }
            if type == S_IFLNK {
                guard let target = try? FileInfo.read(item.name, in: item.parent, path: path).linkTarget else { return }
                archive_entry_copy_symlink(entry, FileWalk.cName(target))
            } else if type == S_IFREG {
                file = openat(item.parent, FileWalk.cName(item.name), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC)
                guard file >= 0, let opened = Syscall.statDescriptor(file).0, opened.st_ino == item.info.st_ino,
                    opened.st_mode & S_IFMT == S_IFREG
                else { return }  // replaced since the walk saw it: left out
            }
            try check(archive_write_header(archive, entry), archive, path.appending(item.relative))
            summary.entries += 1
            guard file >= 0 else { return }
            var remaining = Int64(item.info.st_size)
            var offset: Int64 = 0
            while remaining > 0 {
                let want = Int(min(Int64(buffer.count), remaining))
                var count = buffer.withUnsafeMutableBytes { pread(file, $0.baseAddress, want, off_t(offset)) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 {
                    // Shrunk meanwhile: the header promised the size, so pad with zeros.
                    buffer.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, want) }
                    count = want
                }
                let written = buffer.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, count) }
                guard written == count else { throw failure(archive, path.appending(item.relative)) }
                remaining -= Int64(count)
                offset += Int64(count)
                summary.bytes += Int64(count)
            }
        }
        if recording {
            try TreeWalk.replay(records, from: directory, add)
        } else {
            try TreeWalk.walk(directory, shown: path, add)
        }
        try check(archive_write_close(archive), archive, path)
        return summary
    }

    /// Entries the first pass of `writeArchive` keeps (about 200 bytes each) for the second.
    static let recordedEntries = 250_000

    private func check(_ result: Int32, _ archive: OpaquePointer, _ path: WorkspacePath) throws(WorkspaceFileError) {
        if result < ARCHIVE_WARN { throw failure(archive, path) }
    }

    private func failure(_ archive: OpaquePointer, _ path: WorkspacePath) -> WorkspaceFileError {
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return WorkspaceFileError(.systemCall, path: path.description, "writing the archive failed: \(message)")
    }
}

/// The `emit` closure behind libarchive's write callback's context pointer.
private final class ArchiveSink {
    let emit: (UnsafeRawBufferPointer) -> Bool
    init(emit: @escaping (UnsafeRawBufferPointer) -> Bool) { self.emit = emit }
}
