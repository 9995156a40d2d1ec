import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `sandcastled` process, started on `<directory>/sandcastled.toml` (which the test
/// writes) and used over `<directory>/api.sock` with curl and the admin key the daemon writes to
/// `<directory>/state/admin.key`.
public final class SandcastledProcess: Sendable {
    public let directory: String
    public let process: Process
    public let log: String

    public var socket: String { directory + "/api.sock" }
    public var adminKey: String {
        ((try? String(contentsOfFile: directory + "/state/admin.key", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
    public var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Starts the daemon, its output going to `<directory>/<logName>`; `environment` is added to
    /// the test's own.
    public init(
        configuredIn directory: String, logName: String = "daemon.log", arguments: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        self.directory = directory
        log = directory + "/" + logName
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process = Process()
        process.executableURL = try Self.executable()
        process.arguments = ["--config", directory + "/sandcastled.toml"] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// The built `sandcastled` (see ``builtExecutable(_:)``).
    public static func executable() throws -> URL { try builtExecutable("sandcastled") }

    /// Waits for `/healthz` on the socket; fails at once when the process has exited.
    public func waitUntilListening(timeout: Duration = .seconds(30)) async throws {
        try await eventually("sandcastled to listen", timeout: timeout) {
            guard process.isRunning else { throw FixtureError(description: "sandcastled exited: \(logText)") }
            return (try? await curl(["-f", "http://x/healthz"]))?.contains("ok") == true
        }
    }

    /// curl over the daemon's socket with the admin key; returns what it printed.
    public func curl(_ arguments: [String], seconds: Int = 30) async throws -> String {
        try await ChildProcess.run(
            "curl",
            ["-sN", "--max-time", String(seconds), "--unix-socket", socket, "-H", "Authorization: Bearer \(adminKey)"]
                + arguments,
            timeout: .seconds(seconds + 10)
        ).output
    }

    /// Sends `signal` and waits (off the cooperative pool) for the process to end; returns its
    /// exit status.
    public func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        kill(process.processIdentifier, signal)
        let process = self.process
        return await withCheckedContinuation { continuation in
            Thread {
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }.start()
        }
    }
}

extension SandcastledProcess {
    /// The head of a test daemon's configuration in `directory`: the API socket the class uses
    /// (`apiLines` go into the same table), the state and workspaces beside it, `policies`, no
    /// workspace images. Tests append their own tables after it.
    public static func configuration(in directory: String, policies: String, apiLines: [String] = []) -> String {
        ([
            "[api]",
            #"socket = "\#(directory)/api.sock""#,
        ] + apiLines + [
            "[paths]",
            #"state_directory = "\#(directory)/state""#,
            #"workspace_root = "\#(directory)/workspaces""#,
            #"policies = "\#(policies)""#,
            #"workspace_images = """#,
        ]).joined(separator: "\n") + "\n"
    }
}

/// A product of this package, built by `swift build`: beside the test bundle (or up to three
/// levels above it), else in the repository's debug build.
public func builtExecutable(_ name: String) throws -> URL {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    let fallback = ManagerFixture.repositoryRoot.appendingPathComponent(".build/debug/\(name)")
    guard FileManager.default.isExecutableFile(atPath: fallback.path) else {
        throw FixtureError(description: "\(name) is not built (looked beside \(CommandLine.arguments[0]))")
    }
    return fallback
}
