import Glibc

/// A file operation inside a workspace was refused or failed. `path` is the path inside the
/// workspace as the caller gave it (control characters escaped); `message` says why and what to do.
public struct WorkspaceFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The path is empty where a name is needed, too long, or has `.`, `..`, `//` or NUL.
        case invalidPath
        /// No such workspace, file or directory.
        case notFound
        /// A component of the path is a symbolic link: the API never follows one.
        case symlink
        /// A component that must be a directory is not one.
        case notADirectory
        /// The entry is a directory where a file is needed.
        case isADirectory
        /// The entry is a fifo, socket or device: never read, written or replaced.
        case notRegularFile
        /// The destination already exists.
        case exists
        /// A directory is not empty (delete it with `recursive`).
        case notEmpty
        /// `If-Match` / `If-None-Match` does not hold: someone changed the file meanwhile.
        case preconditionFailed
        /// A body, file, archive or listing is larger than the limit.
        case tooLarge
        /// An archive entry that is never unpacked: absolute path, `..`, a link leaving the
        /// target, a device node, setuid or setgid bits.
        case unsafeEntry
        /// The archive is not a readable tar (or its compression is not supported).
        case badArchive
        /// Any other failing system call; `errno` says which error.
        case systemCall
    }

    public var code: Code
    public var path: String
    public var message: String
    public var errno: Int32?

    public init(_ code: Code, path: String, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.errno = errno
    }

    /// The error for a failed system call on `path`, with the code its errno implies.
    static func failed(_ operation: String, path: String, errno error: Int32) -> WorkspaceFileError {
        switch error {
        case ELOOP:
            WorkspaceFileError(.symlink, path: path, "a component is a symbolic link; the workspace API never follows one", errno: error)
        case ENOENT:
            WorkspaceFileError(.notFound, path: path, "does not exist", errno: error)
        case ENOTDIR:
            WorkspaceFileError(.notADirectory, path: path, "a component is not a directory", errno: error)
        case EISDIR:
            WorkspaceFileError(.isADirectory, path: path, "is a directory", errno: error)
        case EEXIST:
            WorkspaceFileError(.exists, path: path, "already exists", errno: error)
        case ENOTEMPTY:
            WorkspaceFileError(.notEmpty, path: path, "is a directory that is not empty; delete it recursively", errno: error)
        case EXDEV:
            WorkspaceFileError(.invalidPath, path: path, "leaves the workspace or crosses a mount point", errno: error)
        case ENAMETOOLONG:
            WorkspaceFileError(.invalidPath, path: path, "a name is too long", errno: error)
        case EINVAL:
            WorkspaceFileError(.invalidPath, path: path, "the operation is not possible on this path (\(operation))", errno: error)
        case ENOSPC, EDQUOT:
            WorkspaceFileError(.tooLarge, path: path, "the workspace is full (\(operation))", errno: error)
        default:
            WorkspaceFileError(
                .systemCall, path: path, "\(operation) failed: \(String(cString: strerror(error)))", errno: error)
        }
    }

    public var description: String { "\(path): \(message)" }
}
