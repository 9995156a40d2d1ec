import DockerEngine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A `sandcastled` the benchmark starts for itself: a temporary state directory, workspace root
/// and configuration (API on a loopback TCP port, rate limits out of the way, the benchmark's
/// WebSocket origin allowed), the engine the benchmark uses.
public final class DaemonProcess: Sendable {
    public let directory: String
    public let port: Int
    public let pid: Int32
    public let logFile: String
    private let process: Process
    /// Opened when the process has exited.
    private let exited: Release

    /// Writes the configuration, starts `executable` and waits until its API answers.
    ///
    /// - Parameters:
    ///   - viewerQueueBytes: `[relay] viewer_queue_bytes` (``BenchOptions/viewerQueueBytes``).
    ///   - extraConfig: TOML appended to the generated configuration (pool settings, say).
    public static func start(
        executable: String, engine: DockerEndpoint, policies: String, logLevel: String, viewerQueueBytes: Int,
        screens: Bool = true, extraConfig: String = "", startupTimeout: Duration = .seconds(60)
    ) async throws -> DaemonProcess {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError.daemon("no sandcastled at \(executable): build it (swift build -c release) or pass --daemon PATH")
        }
        let directory = try makeTemporaryDirectory(prefix: "sandcastle-bench-")
        let port = try freeLoopbackPort()
        let config = """
            [api]
            socket = "\(directory)/sandcastled.sock"
            tcp = "127.0.0.1:\(port)"
            allowed_origins = ["ws://127.0.0.1"]

            [engine]
            endpoint = "\(engine.description)"

            [paths]
            state_directory = "\(directory)/state"
            workspace_root = "\(directory)/workspaces"
            policies = "\(policies)"
            workspace_images = ""

            [limits]
            per_key_burst = 1000000
            per_key_per_second = 1000000.0
            per_address_burst = 1000000
            per_address_per_second = 1000000.0

            [relay]
            viewer_queue_bytes = \(viewerQueueBytes)
            screens = \(screens)

            \(extraConfig)
            """
        let configFile = directory + "/sandcastled.toml"
        try config.write(toFile: configFile, atomically: true, encoding: .utf8)
        let logFile = directory + "/sandcastled.log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--config", configFile]
        var environment = ProcessInfo.processInfo.environment
        environment["SANDCASTLE_LOG_LEVEL"] = logLevel
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        let exited = Release()
        process.terminationHandler = { _ in exited.open() }
        do {
            try process.run()
        } catch {
            throw BenchError.daemon("cannot start \(executable): \(error)")
        }
        let daemon = DaemonProcess(
            directory: directory, port: port, pid: process.processIdentifier, logFile: logFile, process: process, exited: exited)
        let deadline = ContinuousClock.now + startupTimeout
        let probe = DaemonAPI(host: "127.0.0.1", port: port, apiKey: "")
        while true {
            if exited.isOpen {
                throw BenchError.daemon("sandcastled exited during start-up; its log \(logFile) ends with:\n\(tail(logFile))")
            }
            if let response = try? await probe.send("GET", "/healthz"), response.status == 200 { break }
            if ContinuousClock.now > deadline {
                await daemon.stop()
                throw BenchError.daemon("sandcastled did not answer on 127.0.0.1:\(port) within \(startupTimeout); log \(logFile):\n\(tail(logFile))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return daemon
    }

    private init(directory: String, port: Int, pid: Int32, logFile: String, process: Process, exited: Release) {
        self.directory = directory
        self.port = port
        self.pid = pid
        self.logFile = logFile
        self.process = process
        self.exited = exited
    }

    /// The bootstrap admin key the daemon wrote into its state directory (once it has started).
    public var apiKey: String {
        ((try? String(contentsOfFile: directory + "/state/admin.key", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The daemon's instance id: every container it made carries it as a label.
    public var instanceID: String? {
        (try? String(contentsOfFile: directory + "/state/instance-id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SIGTERM, then SIGKILL after 10 s; returns once the process has exited.
    public func stop() async {
        guard !exited.isOpen else { return }
        kill(pid, SIGTERM)
        let killer = Task {
            try await Task.sleep(for: .seconds(10))
            kill(self.pid, SIGKILL)
        }
        await exited.wait()
        killer.cancel()
    }

    /// Removes the temporary directory (state, workspaces, configuration, log).
    public func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func tail(_ file: String, lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// The resident memory of a process: `VmRSS` from `/proc/<pid>/status`.
public enum ResidentMemory {
    public static func bytes(pid: Int32) throws -> Int {
        let path = "/proc/\(pid)/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BenchError.daemon("cannot read \(path): is the daemon's pid right, and is it on this host?")
        }
        guard let value = parseVmRSS(text) else { throw BenchError.daemon("no VmRSS line in \(path)") }
        return value
    }

    /// The `VmRSS:   123456 kB` line of a status file, in bytes.
    public static func parseVmRSS(_ status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let value = Int(fields[1]), fields[2] == "kB" else { return nil }
            return value * 1024
        }
        return nil
    }
}

/// A new directory under the system's temporary directory.
func makeTemporaryDirectory(prefix: String) throws -> String {
    var template = Array((FileManager.default.temporaryDirectory.path + "/" + prefix + "XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw BenchError.usage("cannot make a temporary directory: \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}

/// A loopback TCP port nothing listens on now (bound to port 0 and released). The daemon tests
/// use it too.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError.usage("cannot make a socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw BenchError.usage("cannot find a free loopback port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}
