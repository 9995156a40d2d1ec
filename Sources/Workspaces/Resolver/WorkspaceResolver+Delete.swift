import Glibc
import SandboxPolicy

extension WorkspaceResolver {
    /// How many directories deep the deletion holds open at once. A deeper subtree is moved up to
    /// the workspace's top (a rename, within the workspace) and deleted from there, so any depth a
    /// sandbox builds is removed with a bounded number of descriptors.
    static let deletionDepth = 64

    /// Deletes the workspace `name` and everything in it without ever following a symlink: every
    /// step is `openat`/`fstatat`/`unlinkat` relative to a directory opened with O_NOFOLLOW, starting
    /// from the root walked from `/`. A symlink inside (`ln -s / x`) is removed as a link; its
    /// target is never touched. A workspace that is itself a symlink has the link removed.
    ///
    /// Call it once no container uses the workspace: entries a running sandbox keeps creating can
    /// make the deletion give up (`systemCall`, ENOTEMPTY).
    ///
    /// - Returns: false when there was no such workspace.
    /// - Throws: `WorkspaceError`: `invalidName`, `crossesMount` (a mount point inside; nothing under
    ///   it is touched), or the failing system call.
    @discardableResult
    public func delete(_ name: String) throws(WorkspaceError) -> Bool {
        try Self.checkName(name)
        let path = root + "/" + name
        let rootFD = try Syscall.openDirectoryWalking(root)
        defer { close(rootFD) }
        let (entry, statError) = Syscall.statEntry(name, in: rootFD)
        guard let entry else {
            if statError == ENOENT { return false }
            throw WorkspaceError.failed("fstatat", path: path, errno: statError)
        }
        if entry.isDirectory {
            var tree = TreeRemoval(device: UInt64(entry.st_dev), path: path)
            try tree.removeContents(of: Array(name.utf8CString), in: rootFD)
        }
        try TreeRemoval.unlink(Array(name.utf8CString), in: rootFD, directory: entry.isDirectory, path: path)
        return true
    }
}

/// The iterative, depth-bounded walk of `delete`.
struct TreeRemoval {
    struct Frame {
        var fd: Int32
        var name: [CChar]
        var pending: [[CChar]]
    }

    let device: UInt64
    let path: String
    var stack: [Frame] = []
    var moved = 0
    /// How often a directory may be found non-empty again after it was emptied.
    var retries = 3

    init(device: UInt64, path: String) {
        self.device = device
        self.path = path
    }

    /// Empties the directory `name` in `parent`, leaving the directory itself.
    mutating func removeContents(of name: [CChar], in parent: Int32) throws(WorkspaceError) {
        defer { for frame in stack { close(frame.fd) } }
        try push(name, in: parent)
        while !stack.isEmpty {
            let top = stack.count - 1
            guard let entry = stack[top].pending.popLast() else {
                try finishTop()
                continue
            }
            let fd = stack[top].fd
            let (info, error) = Syscall.statEntry(entry, in: fd)
            guard let info else {
                if error == ENOENT { continue }
                throw failure("fstatat", entry, error)
            }
            guard info.isDirectory else {
                try Self.unlink(entry, in: fd, directory: false, path: describe(entry))
                continue
            }
            guard UInt64(info.st_dev) == device else {
                throw WorkspaceError(
                    .crossesMount, path: describe(entry),
                    "a mount point inside the workspace; unmount it, then delete again")
            }
            if stack.count >= WorkspaceResolver.deletionDepth {
                try moveToTop(entry, from: fd)
            } else {
                try push(entry, in: fd)
            }
        }
    }

    /// Opens the directory `name` in `parent` and lists it. A directory swapped for something else
    /// since it was examined is unlinked as what it now is.
    private mutating func push(_ name: [CChar], in parent: Int32) throws(WorkspaceError) {
        let (fd, error) = Syscall.openDirectory(name, in: parent)
        if fd < 0 {
            guard error == ELOOP || error == ENOTDIR else { throw failure("openat", name, error) }
            try Self.unlink(name, in: parent, directory: false, path: describe(name))
            return
        }
        guard let info = Syscall.statDescriptor(fd).0, UInt64(info.st_dev) == device else {
            close(fd)
            throw WorkspaceError(
                .crossesMount, path: describe(name), "a mount point inside the workspace; unmount it, then delete again"
            )
        }
        let (names, listError) = Syscall.entries(of: fd)
        if listError != 0 {
            close(fd)
            throw failure("readdir", name, listError)
        }
        stack.append(Frame(fd: fd, name: name, pending: names))
    }

    /// The top directory is empty: remove it from its parent (the workspace itself stays, for the
    /// caller to unlink). If it filled up again meanwhile, list it again.
    private mutating func finishTop() throws(WorkspaceError) {
        let frame = stack.removeLast()
        close(frame.fd)
        guard let parent = stack.last?.fd else { return }
        let removed = Syscall.retrying { unlinkat(parent, frame.name, AT_REMOVEDIR) }
        guard removed.result != 0 else { return }
        guard removed.errno == ENOTEMPTY, retries > 0 else { throw failure("unlinkat", frame.name, removed.errno) }
        retries -= 1
        try push(frame.name, in: parent)
    }

    /// Renames a too-deep directory to the workspace's top, where it is deleted later.
    private mutating func moveToTop(_ name: [CChar], from parent: Int32) throws(WorkspaceError) {
        let top = stack[0].fd
        while true {
            moved += 1
            let newName = Array(".sandcastle-deleting-\(moved)".utf8CString)
            let renamed = Syscall.retrying { renameat(parent, name, top, newName) }
            if renamed.result == 0 {
                stack[0].pending.append(newName)
                return
            }
            guard renamed.errno == EEXIST || renamed.errno == ENOTEMPTY else {
                throw failure("renameat", name, renamed.errno)
            }
        }
    }

    static func unlink(_ name: [CChar], in parent: Int32, directory: Bool, path: String) throws(WorkspaceError) {
        let result = Syscall.retrying { unlinkat(parent, name, directory ? AT_REMOVEDIR : 0) }
        if result.result != 0, result.errno != ENOENT {
            throw WorkspaceError.failed("unlinkat", path: path, errno: result.errno)
        }
    }

    private func describe(_ name: [CChar]) -> String {
        let components = stack.dropFirst().map(\.name) + [name]
        return
            ([path] + components.map { String(decoding: $0.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) })
            .joined(separator: "/")
    }

    private func failure(_ operation: String, _ name: [CChar], _ error: Int32) -> WorkspaceError {
        WorkspaceError.failed(operation, path: describe(name), errno: error)
    }
}
