import Glibc

/// The few file system calls the workspace code makes, with EINTR retried in one place and failures
/// turned into `WorkspaceError`. All of them block: call them from a thread pool, not the
/// cooperative executor.
package enum Syscall {
    package static let directoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

    /// Runs `call` until it does not fail with EINTR; returns its result and errno.
    package static func retrying(_ call: () -> Int32) -> (result: Int32, errno: Int32) {
        while true {
            let result = call()
            let error = errno
            if result != -1 || error != EINTR { return (result, error) }
        }
    }

    /// Opens the directory `name` in `parent` without following a symlink.
    package static func openDirectory(_ name: UnsafePointer<CChar>, in parent: Int32) -> (result: Int32, errno: Int32) {
        retrying { openat(parent, name, directoryFlags) }
    }

    /// Opens the absolute directory `path` one component at a time from `/`, each with O_NOFOLLOW,
    /// so no component anywhere on the path may be a symlink.
    package static func openDirectoryWalking(_ path: String) throws(WorkspaceError) -> Int32 {
        let (rootFD, rootError) = retrying { open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard rootFD >= 0 else { throw WorkspaceError.failed("open", path: "/", errno: rootError) }
        var fd = rootFD
        var walked = ""
        for component in path.split(separator: "/") {
            walked += "/" + component
            let (next, error) = openDirectory(String(component), in: fd)
            let failure = next < 0 ? openFailure(String(component), in: fd, path: walked, errno: error) : nil
            close(fd)
            if let failure { throw failure }
            fd = next
        }
        return fd
    }

    /// The error for a directory that would not open: a symlink is named as such whichever errno
    /// the kernel picked (with O_DIRECTORY it reports ENOTDIR before ELOOP).
    package static func openFailure(_ name: String, in parent: Int32, path: String, errno error: Int32) -> WorkspaceError {
        if error == ENOTDIR || error == ELOOP, let info = statEntry(name, in: parent).0,
            info.st_mode & S_IFMT == S_IFLNK
        {
            return WorkspaceError.failed("openat", path: path, errno: ELOOP)
        }
        return WorkspaceError.failed("openat", path: path, errno: error)
    }

    /// `fstatat(parent, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, never a symlink's target.
    package static func statEntry(_ name: UnsafePointer<CChar>, in parent: Int32) -> (stat?, errno: Int32) {
        var info = stat()
        let (result, error) = retrying { fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) }
        return (result == 0 ? info : nil, error)
    }

    package static func statDescriptor(_ fd: Int32) -> (stat?, errno: Int32) {
        var info = stat()
        let (result, error) = retrying { fstat(fd, &info) }
        return (result == 0 ? info : nil, error)
    }

    /// The names in the directory `fd`, as raw NUL-terminated bytes: a sandbox can create names
    /// that are not UTF-8, and a `String` would not name them again.
    package static func entries(of fd: Int32) -> (names: [[CChar]], errno: Int32) {
        let copy = dup(fd)
        guard copy >= 0, let directory = fdopendir(copy) else {
            let error = errno
            if copy >= 0 { close(copy) }
            return ([], error)
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [[CChar]] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else { break }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 }) + [0]
            }
            if name != [46, 0], name != [46, 46, 0] { names.append(name) }
        }
        return (names, errno)
    }
}

extension stat {
    package var isDirectory: Bool { st_mode & S_IFMT == S_IFDIR }
}
