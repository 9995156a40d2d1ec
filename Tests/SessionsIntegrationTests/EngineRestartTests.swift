import DockerEngine
import Foundation
import SessionStore
import Sessions
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An engine of the test's own, so that it can be restarted under a running manager without
/// disturbing the engine the other tests use.
final class PrivateEngine: Sendable {
    let directory: String
    var socket: String { directory + "/docker.sock" }
    var endpoint: DockerEndpoint { .unix(path: socket) }
    private let pidFile: String

    init() throws {
        // Short: a unix socket path has at most 107 bytes.
        directory = "/tmp/sc-dockerd-\(UUID().uuidString.prefix(6).lowercased())"
        pidFile = directory + "/docker.pid"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Starts dockerd (without live-restore: a restart kills its containers) and waits for it.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "dockerd", "--host", "unix://\(socket)", "--data-root", directory + "/data", "--exec-root", directory + "/exec",
            "--pidfile", pidFile, "--bridge=none", "--iptables=false", "--ip-masq=false",
        ]
        if !FileManager.default.fileExists(atPath: logPath) {
            #expect(FileManager.default.createFile(atPath: logPath, contents: nil))
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let client = try? await DockerClient.connect(.init(endpoint: endpoint, requestTimeout: .seconds(2))) {
                _ = try? await client.ping()
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw FixtureError(description: "the test's own dockerd did not come up; its log: \(logTail())")
    }

    var logPath: String { directory + "/dockerd.log" }

    func logTail() -> String {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").suffix(20).joined(separator: "\n")
    }

    /// SIGTERM, as a service manager stops it; waits for it to be gone.
    func stop() async throws {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if kill(pid, 0) != 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(pid, SIGKILL)
        try await Task.sleep(for: .seconds(1))
    }

    /// Copies an image from the main engine into this one.
    func load(image: String) throws {
        let main = ProcessInfo.processInfo.environment["DOCKER_HOST"].map { "DOCKER_HOST='\($0)' " } ?? ""
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(main)docker save '\(image)' | DOCKER_HOST='unix://\(socket)' docker load -q"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(description: "copying \(image) into the test's own engine failed")
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("The engine restarted under a running manager", .requiresEngine)
struct EngineRestartTests {
    @Test func eventStreamResumesAndKilledSessionsExit() async throws {
        let engine = try PrivateEngine()
        try await engine.start()
        var fixture: ManagerFixture?
        do {
            try engine.load(image: ManagerFixture.image)
            let client = try await DockerClient.connect(.init(endpoint: engine.endpoint))
            let made = try await ManagerFixture.make(client: client)
            fixture = made
            let manager = made.manager
            let follower = Task { await manager.followEngineEvents() }
            defer { follower.cancel() }

            _ = try await manager.create(id: "survivor", request: made.request("survivor"), owner: "a").session
            try await engine.stop()
            try await engine.start()

            // Without live-restore the restart killed the container; the manager notices once its
            // event stream is back and it has resynchronised.
            try await eventually("the killed session to be exited", timeout: .seconds(60)) {
                try await manager.session("survivor").state == .exited
            }
            let survivor = try await manager.session("survivor")
            // The engine kills its containers while it shuts down and still reports their `die`
            // (recorded `killed`, with the signal's exit code); an exit found only by the resync
            // after the stream broke is recorded `engine-restart`.
            #expect([.killed, .engineRestart, .lost].contains(survivor.exitReason), "\(survivor)")
            #expect(survivor.exitReason == .lost || survivor.exitCode == 137 || survivor.exitCode == 143, "\(survivor)")

            // The stream is live again: a new exit arrives as an event.
            _ = try await manager.create(id: "after", request: made.request("after", command: ["sh", "-c", "sleep 1; exit 5"]), owner: "a").session
            try await eventually("the exit after the restart", timeout: .seconds(30)) {
                try await manager.session("after").state == .exited
            }
            #expect(try await manager.session("after").exitCode == 5)
            await made.tearDown()
            try await engine.stop()
            engine.remove()
        } catch {
            await fixture?.tearDown()
            try? await engine.stop()
            Issue.record("dockerd log: \(engine.logTail())")
            engine.remove()
            throw error
        }
    }
}
