import Glibc
import SandboxPolicy

/// What must hold for a write to replace the file.
public enum WritePrecondition: Sendable, Equatable {
    case none
    /// `If-Match`: the file exists with this ETag (`*`: exists at all).
    case ifMatch(String)
    /// `If-None-Match: *`: the file does not exist.
    case ifNoneMatchAny
}

extension OpenWorkspace {
    /// Starts an atomic write of `path`: the content goes to a temporary file beside it, which
    /// `PendingWrite.commit` renames over the target (readers see the old or the new file, never
    /// a part). With `parents`, missing directories are made.
    public func beginWrite(_ path: WorkspacePath, parents: Bool) throws(WorkspaceFileError) -> PendingWrite {
        guard let name = path.name else { throw WorkspaceFileError(.isADirectory, path: "/", "is the workspace's directory") }
        let parent = try FileWalk.openDirectory(path.parent, in: root, creatingFor: parents ? owner : nil)
        // Refuse early what the commit would refuse anyway: replacing a directory, fifo or device.
        if let existing = try? FileInfo.read(name, in: parent, path: path), existing.kind != .file {
            close(parent)
            try OpenWorkspace.requireRegular(existing, path)
        }
        for _ in 0..<8 {
            let temporary = Array(".sandcastle-write-\(UInt64.random(in: 0...UInt64.max))".utf8)
            let (fd, error) = Syscall.retrying {
                openat(parent, FileWalk.cName(temporary), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            if fd < 0, error == EEXIST { continue }
            guard fd >= 0 else {
                close(parent)
                throw WorkspaceFileError.failed("openat", path: path.description, errno: error)
            }
            let pending = PendingWrite(parent: parent, temporary: temporary, descriptor: fd, name: name, path: path, workspace: self)
            let owned = Syscall.retrying { fchown(fd, owner.uid, owner.gid) }
            guard owned.result == 0 else { throw WorkspaceFileError.failed("fchown", path: path.description, errno: owned.errno) }
            return pending
        }
        close(parent)
        throw WorkspaceFileError(.systemCall, path: path.description, "could not pick a temporary name beside it")
    }
}

/// A write in progress: a temporary file beside the target. Dropped without `commit`, the
/// temporary file is removed and the target is untouched.
///
/// `@unchecked Sendable`: not thread-safe, and needs not be: one request owns it and calls it from
/// one thread-pool task at a time (each call finishes before the next starts).
public final class PendingWrite: @unchecked Sendable {
    let parent: Int32
    let temporary: [UInt8]
    let descriptor: Int32
    let name: [UInt8]
    public let path: WorkspacePath
    let workspace: OpenWorkspace
    public private(set) var written: Int64 = 0
    private var finished = false

    init(parent: Int32, temporary: [UInt8], descriptor: Int32, name: [UInt8], path: WorkspacePath, workspace: OpenWorkspace) {
        self.parent = parent
        self.temporary = temporary
        self.descriptor = descriptor
        self.name = name
        self.path = path
        self.workspace = workspace
    }

    deinit {
        if !finished { _ = unlinkat(parent, FileWalk.cName(temporary), 0) }
        close(descriptor)
        close(parent)
    }

    /// Appends `bytes`; refuses past `limits.maxWriteBytes`. Blocks.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(WorkspaceFileError) {
        guard written + Int64(bytes.count) <= workspace.limits.maxWriteBytes else {
            throw WorkspaceFileError(.tooLarge, path: path.description, "is larger than the limit of \(workspace.limits.maxWriteBytes) bytes")
        }
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw WorkspaceFileError.failed("write", path: path.description, errno: errno)
            }
            offset += count
        }
        written += Int64(bytes.count)
    }

    /// Renames the temporary file over the target when `precondition` holds. The new file keeps the
    /// old one's permission bits (without setuid, setgid or sticky), or gets 0644.
    ///
    /// With `durable`, the write is on disk when this returns: the content is flushed
    /// (`fdatasync`) before the rename, so a crash never leaves an empty or partial file under the
    /// name, and the directory after it, so the new name survives one. Both run outside the commit
    /// lock (a slow disk delays this writer only) and cost a journal commit each: ~4 ms apiece on
    /// the benchmark machine's ext4, more than the rest of a 1 MiB write. Without it the write is
    /// atomic for readers but the kernel writes it back in its own time (ext4's `auto_da_alloc`
    /// still flushes a file renamed over an existing one).
    public func commit(_ precondition: WritePrecondition, durable: Bool = false) throws(WorkspaceFileError)
        -> (info: FileInfo, created: Bool)
    {
        if durable {
            let synced = Syscall.retrying { fdatasync(descriptor) }
            guard synced.result == 0 else { throw WorkspaceFileError.failed("fdatasync", path: path.description, errno: synced.errno) }
        }
        let committed = try rename(precondition)
        if durable {
            let synced = Syscall.retrying { fsync(parent) }
            guard synced.result == 0 else {
                throw WorkspaceFileError.failed("fsync of the directory (the new content is in place but may not survive a crash)", path: path.description, errno: synced.errno)
            }
        }
        return committed
    }

    private func rename(_ precondition: WritePrecondition) throws(WorkspaceFileError) -> (info: FileInfo, created: Bool) {
        try OpenWorkspace.commitLock.withLock { _ throws(WorkspaceFileError) in
            let existing = try FileInfo.readIfPresent(name, in: parent, path: path)
            if let existing { try OpenWorkspace.requireRegular(existing, path) }
            switch precondition {
            case .none: break
            case .ifNoneMatchAny:
                if existing != nil { throw WorkspaceFileError(.preconditionFailed, path: path.description, "already exists (If-None-Match: *)") }
            case .ifMatch(let tag):
                guard let existing else {
                    throw WorkspaceFileError(.preconditionFailed, path: path.description, "does not exist any more (If-Match \(tag))")
                }
                if tag != "*", existing.etag != tag {
                    throw WorkspaceFileError(
                        .preconditionFailed, path: path.description,
                        "was changed meanwhile: its ETag is \(existing.etag ?? "none"), not \(tag); read it again and merge")
                }
            }
            let mode = existing.map { mode_t($0.mode & 0o777) } ?? 0o644
            _ = Syscall.retrying { fchmod(descriptor, mode) }
            let renamed = Syscall.retrying { renameat(parent, FileWalk.cName(temporary), parent, FileWalk.cName(name)) }
            guard renamed.result == 0 else { throw WorkspaceFileError.failed("renameat", path: path.description, errno: renamed.errno) }
            finished = true
            guard let info = Syscall.statDescriptor(descriptor).0 else {
                throw WorkspaceFileError.failed("fstat", path: path.description, errno: errno)
            }
            return (FileInfo(name: name, stat: info), existing == nil)
        }
    }
}
