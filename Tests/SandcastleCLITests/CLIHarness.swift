import DockerEngine
import Foundation
import SandcastleTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The outcome of one run of the real `sandcastle` binary.
struct CLIRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

enum Binaries {
    static let repositoryRoot = ManagerFixture.repositoryRoot

    /// A product built beside the test bundle.
    static func path(_ name: String) throws -> String { try builtExecutable(name).path }

    static var testImage: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest"
    }

    /// Runs `sandcastle` with `arguments` to completion, on a thread of its own (waiting blocks).
    static func sandcastle(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) async throws -> CLIRun {
        let executable = try path("sandcastle")
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                var env = ProcessInfo.processInfo.environment
                for key in ["SANDCASTLE_SOCKET", "SANDCASTLE_URL", "SANDCASTLE_API_KEY", "SANDCASTLE_API_KEY_FILE", "SANDCASTLE_CONFIG"] {
                    env[key] = nil
                }
                env.merge(environment) { $1 }
                process.environment = env
                let out = Pipe()
                let err = Pipe()
                let stdin = Pipe()
                process.standardOutput = out
                process.standardError = err
                process.standardInput = stdin
                do {
                    try process.run()
                    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
                    try? stdin.fileHandleForWriting.close()
                    // Both pipes drained concurrently, so a full stderr cannot stall stdout.
                    let errData = Captured()
                    let drained = DispatchSemaphore(value: 0)
                    Thread {
                        let data = err.fileHandleForReading.readDataToEndOfFile()
                        errData.bytes.withLock { $0 = data }
                        drained.signal()
                    }.start()
                    let outData = out.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    drained.wait()
                    continuation.resume(
                        returning: CLIRun(
                            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                            stderr: String(decoding: errData.bytes.withLock { $0 }, as: UTF8.self)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }
}

/// Bytes a reader thread hands over.
final class Captured: Sendable {
    let bytes = Mutex(Data())
}

struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A real `sandcastled` on a configuration, state directory and socket of its own, the engine
/// from `DOCKER_HOST`. Session ids carry `tag`, so containers never collide with other runs.
final class LiveDaemon: Sendable {
    let directory: String
    let tag: String
    let daemon: SandcastledProcess
    var process: Process { daemon.process }

    var socket: String { directory + "/api.sock" }
    var configFile: String { directory + "/sandcastled.toml" }
    var logFile: String { daemon.log }
    var instance: String {
        ((try? String(contentsOfFile: directory + "/state/instance-id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
    var log: String { daemon.logText }

    /// Connection arguments for the CLI: the socket and the configuration (for the admin key).
    var connection: [String] { ["--socket", socket, "--config", configFile] }

    /// The TCP listener's port, when the daemon has one.
    let tcpPort: Int?

    init(tcp: Bool = false) throws {
        tag = "cli" + UUID().uuidString.prefix(6).lowercased()
        tcpPort = tcp ? Int.random(in: 20_000...60_000) : nil
        directory = "/tmp/sc-\(tag)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = SandcastledProcess.configuration(
            in: directory, policies: Binaries.repositoryRoot.appendingPathComponent("Policies").path,
            apiLines: tcpPort.map { [#"tcp = "127.0.0.1:\#($0)""#] } ?? []) + """
            [engine]
            stop_grace_seconds = 2
            """
        try config.write(toFile: directory + "/sandcastled.toml", atomically: true, encoding: .utf8)
        daemon = try SandcastledProcess(configuredIn: directory)
    }

    /// Starts a daemon, runs `body`, and always stops it and removes its containers and files.
    static func with(tcp: Bool = false, _ body: (LiveDaemon) async throws -> Void) async throws {
        let daemon = try LiveDaemon(tcp: tcp)
        do {
            try await daemon.waitUntilListening()
            try await body(daemon)
        } catch {
            Issue.record("daemon log:\n\(daemon.log)")
            await daemon.tearDown()
            throw error
        }
        await daemon.tearDown()
    }

    func waitUntilListening() async throws {
        for _ in 0..<300 {
            if !process.isRunning { throw HarnessFailure("sandcastled exited: \(log)") }
            if FileManager.default.fileExists(atPath: directory + "/state/admin.key"),
                (try? await Binaries.sandcastle(["ls"] + connection))?.status == 0
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessFailure("sandcastled never listened: \(log)")
    }

    /// Runs `sandcastle SUBCOMMAND <connection> REST`: the connection options go before the rest,
    /// which may end in `-- command`.
    func sandcastle(_ arguments: [String], input: String? = nil) async throws -> CLIRun {
        try await Binaries.sandcastle(Array(arguments.prefix(1)) + connection + arguments.dropFirst(), input: input)
    }

    func tearDown() async {
        let instance = self.instance
        _ = await daemon.stop()
        if !instance.isEmpty, let engine = try? await DockerClient.connect(.fromEnvironment()) {
            var filters = DockerFilters()
            filters.label("dev.sandcastle.instance", instance)
            for container in (try? await engine.listContainers(all: true, filters: filters)) ?? [] {
                try? await engine.removeContainer(container.id, force: true)
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
