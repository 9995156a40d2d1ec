import DockerEngine
import Foundation
import Synchronization
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `sandcastled` process: started on a configuration of its own, used over its unix
/// socket with curl, stopped with SIGTERM and started again.
@Suite("The sandcastled process", .serialized)
struct DaemonProcessTests {
    final class Daemon: Sendable {
        let directory: String
        // Process is not Sendable; after run() only its thread-safe members are used.
        nonisolated(unsafe) let process: Process
        let log: String

        var socket: String { directory + "/api.sock" }
        var adminKey: String {
            ((try? String(contentsOfFile: directory + "/state/admin.key", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// `api` goes into the `[api]` table, `tail` after the rest (`[auth]`, say); `policies`
        /// replaces the repository's directory; `environment` is added to the test's own.
        init(
            directory: String, logName: String = "daemon.log", api: String = "", policies: String? = nil, tail: String = "",
            arguments: [String] = [], environment: [String: String] = [:]
        ) throws {
            self.directory = directory
            log = directory + "/" + logName
            let config = """
                [api]
                socket = "\(directory)/api.sock"
                allowed_origins = ["https://app.example.com", "ws://127.0.0.1"]
                \(api)
                [paths]
                state_directory = "\(directory)/state"
                workspace_root = "\(directory)/workspaces"
                policies = "\(policies ?? Self.repositoryRoot.appendingPathComponent("Policies").path)"
                workspace_images = ""
                [engine]
                stop_grace_seconds = 2
                \(tail)
                """
            try Self.writeConfig(config, in: directory)
            FileManager.default.createFile(atPath: log, contents: nil)
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

        /// Writes the configuration only when it is not there yet: a restart keeps the one a test
        /// may have changed (SIGHUP tests rewrite it).
        static func writeConfig(_ text: String, in directory: String) throws {
            let path = directory + "/sandcastled.toml"
            guard !FileManager.default.fileExists(atPath: path) else { return }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }

        static let repositoryRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        static func executable() throws -> URL {
            var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for _ in 0..<3 {
                let candidate = directory.appendingPathComponent("sandcastled")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory = directory.deletingLastPathComponent()
            }
            let fallback = repositoryRoot.appendingPathComponent(".build/debug/sandcastled")
            guard FileManager.default.isExecutableFile(atPath: fallback.path) else {
                throw ProcessFailure(description: "sandcastled is not built (looked beside \(CommandLine.arguments[0]))")
            }
            return fallback
        }

        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        /// Waits for `/healthz` on the socket.
        func waitUntilListening() async throws {
            for _ in 0..<300 {
                if !process.isRunning { throw ProcessFailure(description: "sandcastled exited: \(logText)") }
                if (try? await curl(["-f", "http://x/healthz"]))?.contains("ok") == true { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw ProcessFailure(description: "sandcastled never listened: \(logText)")
        }

        /// curl over the daemon's socket with the admin key.
        func curl(_ arguments: [String], seconds: Int = 30) async throws -> String {
            try await runCurl(["--unix-socket", socket, "-H", "Authorization: Bearer \(adminKey)"] + arguments, seconds: seconds)
        }

        /// Sends `signal` and waits for the process to end; returns its exit status.
        func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
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

    struct ProcessFailure: Error, CustomStringConvertible {
        var description: String
    }

    static func runCurl(_ arguments: [String], seconds: Int) async throws -> String {
        try await ChildProcess.run("curl", ["-sN", "--max-time", String(seconds)] + arguments, timeout: .seconds(seconds + 10)).output
    }

    @Test func servesStopsGracefullyAndPicksUpItsSessionsAgain() async throws {
        let directory = "/tmp/sc-daemon-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let engine = try await DockerClient.connect(.fromEnvironment())
        var instance = ""
        let daemon = try Daemon(directory: directory)
        do {
            try await daemon.waitUntilListening()
            instance = ((try? String(contentsOfFile: directory + "/state/instance-id", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // Mode 0660 on the socket.
            let attributes = try FileManager.default.attributesOfItem(atPath: daemon.socket)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o660)

            // A second daemon on the same state refuses to start and leaves the first alone.
            let second = try Daemon(directory: directory, logName: "second.log")
            second.process.waitUntilExit()
            #expect(second.process.terminationStatus == 1)
            #expect(second.logText.contains("another sandcastled"))
            #expect(try await daemon.curl(["http://x/healthz"]).contains("ok"))

            let image = ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest"
            let created = try await daemon.curl([
                "-H", "Content-Type: application/json", "-d",
                #"{"id":"proc-1","image":"\#(image)","profile":"default","workspace":"proc","command":["sh"]}"#,
                "http://x/v1/sessions",
            ])
            #expect(created.contains(#""state":"running""#), "\(created)")
            // The daemon's engine client reports every call's latency at /metrics.
            let metrics = try await daemon.curl(["http://x/metrics"])
            for operation in ["GET /version", "POST /containers/create", "POST /containers/{id}/start"] {
                #expect(
                    metrics.contains(#"sandcastle_engine_request_duration_seconds_count{operation="\#(operation)",outcome="ok"}"#),
                    "\(operation) missing from /metrics")
            }

            // A follower of the event stream must not hold the shutdown up.
            async let follower = daemon.curl(["http://x/v1/events"], seconds: 60)
            try await Task.sleep(for: .milliseconds(500))
            let start = ContinuousClock.now
            let status = await daemon.stop(SIGTERM)
            let took = ContinuousClock.now - start
            _ = try await follower
            #expect(status == 0, "exit status \(status): \(daemon.logText)")
            #expect(took < .seconds(20), "SIGTERM took \(took)")
            #expect(!FileManager.default.fileExists(atPath: daemon.socket))
            // The session's container runs on without the daemon.
            let container = try await engine.inspectContainer("sandcastle-proc-1")
            #expect(container.state.running)

            let restarted = try Daemon(directory: directory, logName: "restarted.log")
            do {
                try await restarted.waitUntilListening()
                let shown = try await restarted.curl(["http://x/v1/sessions/proc-1"])
                #expect(shown.contains(#""state":"running""#), "\(shown)")
                let token = try await restarted.curl(["-X", "POST", "http://x/v1/sessions/proc-1/attach-tokens"])
                #expect(token.contains(#""token""#), "\(token)")
                _ = await restarted.stop(SIGTERM)
            } catch {
                _ = await restarted.stop(SIGKILL)
                throw error
            }
        } catch {
            _ = await daemon.stop(SIGKILL)
            Issue.record("daemon log: \(daemon.logText)")
            await Self.cleanUp(engine: engine, instance: instance, directory: directory)
            throw error
        }
        await Self.cleanUp(engine: engine, instance: instance, directory: directory)
    }

    static func cleanUp(engine: DockerClient, instance: String, directory: String) async {
        if !instance.isEmpty {
            var filters = DockerFilters()
            filters.label("dev.sandcastle.instance", instance)
            for container in (try? await engine.listContainers(all: true, filters: filters)) ?? [] {
                try? await engine.removeContainer(container.id, force: true)
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
