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
@Suite("The sandcastled process", .serialized, .requiresEngine)
struct DaemonProcessTests {
    typealias Daemon = SandcastledProcess

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

extension SandcastledProcess {
    static let repositoryRoot = ManagerFixture.repositoryRoot

    /// Writes this suite's configuration (when the file is not there yet: a restart keeps the one
    /// a test may have changed, as the SIGHUP tests do) and starts the daemon on it. `api` goes
    /// into the `[api]` table, `tail` after the rest (`[auth]`, say); `policies` replaces the
    /// repository's directory; `origins` are the `allowed_origins`.
    convenience init(
        directory: String, logName: String = "daemon.log", api: String = "", policies: String? = nil, tail: String = "",
        origins: [String] = ["https://app.example.com", "ws://127.0.0.1"], arguments: [String] = [], environment: [String: String] = [:]
    ) throws {
        let path = directory + "/sandcastled.toml"
        if !FileManager.default.fileExists(atPath: path) {
            let config = SandcastledProcess.configuration(
                in: directory, policies: policies ?? ManagerFixture.policiesDirectory,
                apiLines: ["allowed_origins = [\(origins.map { "\"\($0)\"" }.joined(separator: ", "))]", api]) + """
                [engine]
                stop_grace_seconds = 2
                \(tail)
                """
            try config.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try self.init(configuredIn: directory, logName: logName, arguments: arguments, environment: environment)
    }
}
