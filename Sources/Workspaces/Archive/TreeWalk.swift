import Glibc

/// A depth-first walk of a directory tree from descriptors: every entry is `fstatat`ed without
/// following it and directories are opened with `FileWalk` (O_NOFOLLOW), so nothing outside the
/// tree is ever reached. Parents come before their children; names are sorted by bytes.
struct TreeWalk {
    /// The deepest tree walked (each level holds one descriptor).
    static let maxDepth = 256

    struct Entry {
        /// The path below the walked directory, components joined with `/`.
        var relative: [UInt8]
        var name: [UInt8]
        var parent: Int32
        var info: stat
        /// 0 for an entry of the walked directory itself, 1 below one of its directories, ...
        var depth: Int
    }

    /// An entry as a first walk saw it, for ``replay(_:from:_:)``.
    struct Recorded {
        var depth: Int
        var name: [UInt8]
        var info: stat
    }

    private struct Frame {
        var fd: Int32
        var relative: [UInt8]
        var names: [[UInt8]]
        var next = 0
    }

    /// Calls `visit` for every entry below the directory `fd` (not for `fd` itself).
    static func walk(
        _ fd: Int32, shown: WorkspacePath, _ visit: (Entry) throws(WorkspaceFileError) -> Void
    ) throws(WorkspaceFileError) {
        var stack = [Frame(fd: dup(fd), relative: [], names: try names(of: fd, shown: shown))]
        defer { for frame in stack { close(frame.fd) } }
        while let top = stack.indices.last {
            guard stack[top].next < stack[top].names.count else {
                close(stack.removeLast().fd)
                continue
            }
            let name = stack[top].names[stack[top].next]
            stack[top].next += 1
            let parent = stack[top].fd
            let relative = stack[top].relative.isEmpty ? name : stack[top].relative + [UInt8(ascii: "/")] + name
            guard let info = FileWalk.stat(name, in: parent).0 else { continue }  // gone since readdir
            try visit(Entry(relative: relative, name: name, parent: parent, info: info, depth: top))
            guard info.st_mode & S_IFMT == S_IFDIR else { continue }
            let path = WorkspacePath(components: shown.components + relative.split(separator: UInt8(ascii: "/")).map(Array.init))
            guard stack.count < maxDepth else {
                throw WorkspaceFileError(.tooLarge, path: path.description, "is more than \(maxDepth) directories deep")
            }
            let child: Int32
            do { child = try FileWalk.open(WorkspacePath(components: [name]), in: parent, flags: O_RDONLY | O_DIRECTORY) } catch
                where error.code == .notFound || error.code == .symlink || error.code == .notADirectory
            {
                continue  // replaced since fstatat: left out
            }
            let childNames: [[UInt8]]
            do { childNames = try names(of: child, shown: path) } catch {
                close(child)
                throw error
            }
            stack.append(Frame(fd: child, relative: relative, names: childNames))
        }
    }

    /// Visits `records` (a walk of the directory `fd` that recorded every entry) as `walk` would,
    /// without reading the directories and `fstatat`ing every entry again: each directory on the
    /// way is opened anew (`O_NOFOLLOW`); one replaced meanwhile by something else is left out
    /// with all below it. An entry's `info` is what the first walk saw: check what you open.
    static func replay(
        _ records: [Recorded], from fd: Int32, _ visit: (Entry) throws(WorkspaceFileError) -> Void
    ) throws(WorkspaceFileError) {
        var stack: [(fd: Int32, relative: [UInt8])] = [(dup(fd), [])]
        defer { for frame in stack { close(frame.fd) } }
        var skippingBelow = Int.max
        for record in records {
            if record.depth > skippingBelow { continue }
            skippingBelow = .max
            while stack.count > record.depth + 1 { close(stack.removeLast().fd) }
            guard stack.count == record.depth + 1 else { continue }
            let parent = stack[record.depth]
            let relative = parent.relative.isEmpty ? record.name : parent.relative + [UInt8(ascii: "/")] + record.name
            try visit(Entry(relative: relative, name: record.name, parent: parent.fd, info: record.info, depth: record.depth))
            guard record.info.st_mode & S_IFMT == S_IFDIR else { continue }
            do {
                let child = try FileWalk.open(WorkspacePath(components: [record.name]), in: parent.fd, flags: O_RDONLY | O_DIRECTORY)
                stack.append((child, relative))
            } catch where error.code == .notFound || error.code == .symlink || error.code == .notADirectory {
                skippingBelow = record.depth  // replaced since the first walk: left out
            }
        }
    }

    /// The names in the directory `fd`, sorted by bytes, without `.` and `..`; `tooLarge` past
    /// `atMost` of them.
    static func names(of fd: Int32, shown: WorkspacePath, atMost: Int = .max) throws(WorkspaceFileError) -> [[UInt8]] {
        let copy = dup(fd)
        guard copy >= 0, let directory = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw WorkspaceFileError.failed("fdopendir", path: shown.description, errno: errno)
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw WorkspaceFileError.failed("readdir", path: shown.description, errno: errno) }
                break
            }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [46], name != [46, 46] { names.append(name) }
            guard names.count <= atMost else {
                throw WorkspaceFileError(
                    .tooLarge, path: shown.description, "has more than \(atMost) entries; download it as an archive instead")
            }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }
}
