import Glibc

/// A workspace could not be resolved, verified, size-limited or deleted.
public struct WorkspaceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The workspace name breaks `WorkspaceName`'s rules.
        case invalidName
        /// The workspace root is not an absolute, normalised path, or overlaps a system directory or
        /// the Docker socket.
        case invalidRoot
        /// A symbolic link where a directory was expected (in the root's path or as the workspace).
        case symlink
        case notADirectory
        case notFound
        /// The directory at the path is no longer the one that was resolved.
        case changed
        /// Deletion met a mount point inside the workspace and stopped there.
        case crossesMount
        /// Any other failing system call; `errno` says which error.
        case systemCall
        /// The host cannot put a size limit on a workspace: a tool (e2fsprogs, mount) or the kernel's
        /// loop devices are missing. `message` says what to install.
        case sizeLimitUnavailable
        /// A size limit below the minimum, or one the workspace's image cannot shrink to.
        case invalidSizeLimit
        /// A command run to limit the workspace's size failed; `operation` names the step and
        /// `commandOutput` holds what the command printed.
        case commandFailed
        /// Something other than the workspace's own image is mounted on the workspace directory, or
        /// the image is mounted without `nosuid,nodev`.
        case mountConflict
        /// A workspace that already holds files cannot get a new image: mounted over them, the image
        /// would hide them.
        case notEmpty
        /// The workspace's image is not what the limiter made: not a root-owned 0600 regular file,
        /// or no ext4 superblock in it.
        case badImage
        /// The workspace's image is still in use (an open file, a running session, another mount
        /// namespace): it cannot be unmounted, shrunk or detached now.
        case busy
    }

    public var code: Code
    /// The path concerned.
    public var path: String
    /// The system call that failed, if one did.
    public var operation: String?
    public var errno: Int32?
    /// What is wrong and what to do.
    public var message: String
    /// What a failed command printed (stdout and stderr, trimmed), for `commandFailed`.
    public var commandOutput: String?

    public init(
        _ code: Code, path: String, operation: String? = nil, errno: Int32? = nil, _ message: String,
        commandOutput: String? = nil
    ) {
        self.code = code
        self.path = path
        self.operation = operation
        self.errno = errno
        self.message = message
        self.commandOutput = commandOutput
    }

    /// The error for a failed system call, with the code its errno implies.
    package static func failed(_ operation: String, path: String, errno: Int32, _ message: String? = nil) -> WorkspaceError {
        let code: Code
        let text: String
        switch errno {
        case ELOOP:
            code = .symlink
            text = "is a symbolic link; workspaces and their roots never go through symlinks"
        case ENOTDIR:
            code = .notADirectory
            text = "is not a directory"
        case ENOENT:
            code = .notFound
            text = "does not exist"
        default:
            code = .systemCall
            text = String(cString: strerror(errno))
        }
        return WorkspaceError(code, path: path, operation: operation, errno: errno, message ?? text)
    }

    public var description: String {
        let call = operation.map { " (\($0)" + (errno.map { ": errno \($0))" } ?? ")") } ?? ""
        let output = commandOutput.map { $0.isEmpty ? "" : "; it printed: \($0)" } ?? ""
        return "workspace \(path): \(message)\(call)\(output)"
    }
}
