import CLinuxShims
import Glibc
import SandboxPolicy

/// An external program the limiter runs (`mkfs.ext4`, `mount`, ...), found by name in the system
/// directories only, never through the daemon's `PATH`.
struct Tool: Sendable, Equatable {
    var name: String
    /// The Debian package that provides it, for the error when it is missing.
    var package: String

    static let mkfs = Tool(name: "mkfs.ext4", package: "e2fsprogs")
    static let fsck = Tool(name: "e2fsck", package: "e2fsprogs")
    static let resize = Tool(name: "resize2fs", package: "e2fsprogs")
    static let mount = Tool(name: "mount", package: "mount")
    static let losetup = Tool(name: "losetup", package: "mount")

    static let searchDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

    /// The tool's absolute path, or nil when no system directory has it executable.
    var path: String? {
        Self.searchDirectories.map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
    }

    /// What a run printed (stdout and stderr interleaved, as a terminal would show them) and how it
    /// ended.
    struct Run: Sendable, Equatable {
        /// The exit status, or 128 + the signal number when a signal ended it.
        var status: Int32
        var output: String
    }

    /// Runs the tool with `arguments` and waits for it. Blocks: call it from the limiter's queue.
    ///
    /// The child gets stdin from `/dev/null`, one pipe for stdout and stderr, no descriptor of ours
    /// besides, default signal handling and an empty signal mask, and the environment
    /// `PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C` (messages in English, for the error text).
    ///
    /// - Returns: nil when the tool is not installed.
    /// - Throws: `WorkspaceError.systemCall` when the process could not be started.
    func run(_ arguments: [String], workspace: String, step: String) throws(WorkspaceError) -> Run? {
        guard let path else { return nil }
        var pipeFDs: [Int32] = [-1, -1]
        guard CLinuxShims_pipe2(&pipeFDs, O_CLOEXEC) == 0 else {
            throw WorkspaceError.failed("pipe2", path: workspace, errno: errno, "could not start \(name) for \(step)")
        }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        defer { close(readEnd) }
        let pid: pid_t
        do {
            defer { close(writeEnd) }
            pid = try spawn(path, arguments, output: writeEnd, workspace: workspace, step: step)
        }
        let output = Self.readAll(readEnd)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw WorkspaceError.failed("waitpid", path: workspace, errno: errno, "lost \(name) during \(step)")
            }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        let exit = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return Run(status: exit, output: String(decoding: output, as: UTF8.self).trimmingWhitespace)
    }

    private func spawn(_ path: String, _ arguments: [String], output: Int32, workspace: String, step: String)
        throws(WorkspaceError) -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        // glibc >= 2.34: closes every other inherited descriptor, whether or not it is O_CLOEXEC.
        CLinuxShims_spawn_file_actions_addclosefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw WorkspaceError.failed("posix_spawn", path: workspace, errno: result, "could not start \(path) for \(step)")
        }
        return pid
    }

    private static func readAll(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return bytes }
            // Keep the last 64 KiB: enough for any error message, bounded whatever a tool prints.
            bytes += chunk[..<count]
            if bytes.count > 65536 { bytes.removeFirst(bytes.count - 65536) }
        }
    }
}

/// Runs tools for one workspace and turns a missing tool or a failed run into a `WorkspaceError`
/// that names the workspace, the step, what the tool printed and what to do.
struct ToolRunner {
    let path: String
    let imagePath: String

    func runTool(_ tool: Tool, _ arguments: [String]) throws(WorkspaceError) -> Tool.Run {
        guard let run = try tool.run(arguments, workspace: path, step: tool.name) else {
            throw WorkspaceError(
                .sizeLimitUnavailable, path: path, operation: tool.name,
                "\(tool.name) is not installed (looked in \(Tool.searchDirectories.joined(separator: ", "))): "
                    + "install \(tool.package), or remove workspace_size from the profiles")
        }
        return run
    }

    func run(_ tool: Tool, _ arguments: [String], step: String) throws(WorkspaceError) {
        let result = try runTool(tool, arguments)
        if result.status != 0 { throw failure(tool, result, step: step) }
    }

    func failure(_ tool: Tool, _ run: Tool.Run, step: String) -> WorkspaceError {
        WorkspaceError(
            .commandFailed, path: path, operation: tool.name,
            "could not \(step) (\(tool.name) exited \(run.status)); the daemon needs CAP_SYS_ADMIN and a working "
                + "\(tool.package), and the image \(imagePath) must be healthy (e2fsck -f)", commandOutput: run.output)
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
