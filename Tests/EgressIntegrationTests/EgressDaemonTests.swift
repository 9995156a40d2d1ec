import Foundation
import SandcastleTestSupport
import Testing

/// Egress end to end: the real daemon, a session container of the Debian test image (curl, git),
/// and an "outside world" of the test's own servers in a network namespace joined to this one by
/// a veth pair (see Fixtures/outside-world). The daemon's `[egress] hosts_file` maps the test
/// names to those servers (and a few to refused addresses). Nothing leaves the machine.
@Suite(.serialized) struct EgressDaemonTests {
    @Test func aSessionReachesWhatItsProfileAllowsAndNothingElse() async throws {
        try await EgressWorld.with { world in
            let session = try await world.createSession("e1")

            // Allowed, TLS verified end to end against the test CA (curl -f fails on any error).
            let allowed = try await world.exec(session, ["curl", "-sSf", "https://allowed.test/"])
            #expect(allowed.output == "hello from allowed.test over https\n", "\(allowed.output)")
            let plain = try await world.exec(session, ["curl", "-sSf", "http://allowed.test/"])
            #expect(plain.output == "hello from allowed.test over http\n", "\(plain.output)")

            // Not listed: 403 with its reason, which curl -v shows.
            let denied = try await world.exec(session, ["curl", "-sSv", "https://denied.test/"])
            #expect(denied.status != 0)
            #expect(denied.output.contains("403 egress to denied.test:443 is not allowed by profile egress-test"), "\(denied.output)")

            // Listed names that resolve to refused addresses.
            for (name, address) in [
                ("lo.test", "127.0.0.1 (loopback)"), ("ten.test", "10.20.30.40 (a private address)"),
                ("metadata.test", "169.254.169.254 (link-local"), ("v6lo.test", "::1 (loopback)"),
            ] {
                let refused = try await world.exec(session, ["curl", "-sSv", "https://\(name)/"])
                #expect(refused.status != 0, "\(name)")
                #expect(refused.output.contains("it resolves to \(address)"), "\(name): \(refused.output)")
            }
            // An IP literal that is not listed (the allowed server's own address).
            let literal = try await world.exec(session, ["curl", "-sSv", "http://\(world.serverAddress)/"])
            #expect(literal.output.contains("403 egress to \(world.serverAddress):80 is not allowed by profile"), "\(literal.output)")

            // Without the proxy there is no network at all.
            let raw = try await world.exec(session, ["bash", "-c", "exec 3<>/dev/tcp/\(world.serverAddress)/80"])
            #expect(raw.status != 0)
            #expect(raw.output.contains("unreachable"), "\(raw.output)")
            let direct = try await world.exec(session, ["curl", "-sS", "--noproxy", "*", "https://allowed.test/"])
            #expect(direct.status != 0, "\(direct.output)")

            // git over HTTPS through the proxy.
            let git = try await world.exec(session, ["git", "ls-remote", "https://git.test:4443/git/repo.git"])
            #expect(git.status == 0, "\(git.output)")
            #expect(git.output.contains("refs/heads/main"), "\(git.output)")

            // A silent server: the idle cap closes the tunnel with an error, not a stall.
            let silent = try await world.exec(session, ["curl", "-sS", "--max-time", "30", "https://silent.test:9999/"])
            #expect(silent.status != 0 && silent.status != 28, "closed by the idle cap before curl's own timeout: \(silent.output)")
            // The connection cap: more tunnels than allowed at once get 429 at once. (The idle cap,
            // 5 s, leaves the six curls time to start on a slow host while the first three hold.)
            let burst = try await world.exec(
                session,
                ["bash", "-c", "for i in 1 2 3 4 5 6; do curl -sS --max-time 20 https://silent.test:9999/ 2>&1 & done; wait"])
            #expect(burst.output.contains("429"), "\(burst.output)")

            // The daemon is healthy, and the session shows the list and the counters.
            let health = try await world.daemon.curl(["-f", "http://x/healthz"])
            #expect(health.contains("ok"))
            let shown = try await world.daemon.curl(["-f", "http://x/v1/sessions/e1"])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])
            let egress = try #require(json["egress"] as? [String: Any], "\(shown)")
            #expect((egress["allow"] as? [String])?.contains("allowed.test:443") == true)
            let counters = try #require(egress["counters"] as? [String: Any])
            #expect((counters["connections"] as? Int ?? 0) >= 3, "\(counters)")
            #expect((counters["denied"] as? Int ?? 0) >= 6, "\(counters)")
            #expect((counters["bytesDown"] as? Int ?? 0) > 0, "\(counters)")

            // Denials and tunnels are in the event log.
            let events = try await world.daemon.curl(["-f", "http://x/v1/events?since=0&follow=false"], seconds: 5)
            #expect(events.contains("egress.denied"), "\(events.prefix(2000))")
            #expect(events.contains("egress.closed"), "\(events.prefix(2000))")
        }
    }

    @Test func aRunningSessionKeepsItsEgressAcrossADaemonRestart() async throws {
        try await EgressWorld.with { world in
            let session = try await world.createSession("r1")
            let before = try await world.exec(session, ["curl", "-sSf", "https://allowed.test/"])
            #expect(before.status == 0, "\(before.output)")
            try await world.restartDaemon()
            let after = try await world.exec(session, ["curl", "-sSf", "https://allowed.test/"])
            #expect(after.status == 0, "\(after.output)")
            #expect(after.output == "hello from allowed.test over https\n")
            let listed = try await world.daemon.curl(["-f", "http://x/v1/sessions"])
            #expect(listed.components(separatedBy: "\"id\":\"").count == 2, "still one session: \(listed)")
        }
    }

    @Test func aRequestCannotWidenItsProfilesList() async throws {
        try await EgressWorld.with { world in
            let reply = try await world.daemon.curl([
                "-X", "POST", "http://x/v1/sessions", "-H", "Content-Type: application/json", "-d",
                #"{"id":"w1","image":"\#(world.image)","profile":"egress-test","workspace":"w1","command":["sleep","60"],"egress":["evil.example:443"]}"#,
            ])
            #expect(reply.contains("egress[0]"), "\(reply)")
            #expect(reply.contains("only narrow"), "\(reply)")
        }
    }
}

/// The outside world, a daemon configured for it, and the sessions the test made.
final class EgressWorld: Sendable {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    let directory: String
    let name: String
    let block: Int
    let image: String
    nonisolated(unsafe) var daemon: SandcastledProcess

    var serverAddress: String { "198.51.100.\(block + 2)" }

    private init(directory: String, name: String, block: Int, image: String, daemon: SandcastledProcess) {
        self.directory = directory
        self.name = name
        self.block = block
        self.image = image
        self.daemon = daemon
    }

    /// `pool`: the daemon keeps a warm pool of one `egress-test` container (inside
    /// Docker-in-Docker only: claims bind-mount).
    static func with(pool: Bool = false, _ body: (EgressWorld) async throws -> Void) async throws {
        let image = try #require(
            ProcessInfo.processInfo.environment["SANDCASTLE_DEBIAN_IMAGE"], "SANDCASTLE_DEBIAN_IMAGE names the Debian test image")
        let tag = UUID().uuidString.prefix(6).lowercased()
        let directory = "/tmp/sc-eg\(tag)"
        let name = "sce\(tag)"
        let block = Int.random(in: 1...60) * 4
        try FileManager.default.createDirectory(atPath: directory + "/world", withIntermediateDirectories: true)
        let up = try await ChildProcess.run(
            fixtures.path + "/outside-world", ["up", name, directory + "/world", String(block)], timeout: .seconds(60))
        defer { _ = try? ChildProcess.runBlocking(fixtures.path + "/outside-world", ["down", name, directory + "/world"], timeout: .seconds(30)) }
        try #require(up.status == 0, "outside-world up: \(up.output)")
        try writeConfiguration(directory: directory, pool: pool ? image : nil)
        let world = EgressWorld(
            directory: directory, name: name, block: block, image: image,
            daemon: try SandcastledProcess(configuredIn: directory))
        do {
            try await world.daemon.waitUntilListening()
            try await body(world)
        } catch {
            Issue.record("daemon log:\n\(world.daemon.logText)")
            await world.tearDown()
            throw error
        }
        await world.tearDown()
    }

    private static func writeConfiguration(directory: String, pool image: String?) throws {
        let policies = directory + "/policies"
        try FileManager.default.copyItem(atPath: ManagerFixture.policiesDirectory, toPath: policies)
        let base = try String(contentsOfFile: policies + "/default.toml", encoding: .utf8)
        let allow = [
            "allowed.test:443", "allowed.test:80", "git.test:4443", "silent.test:9999", "lo.test:443", "ten.test:443",
            "metadata.test:443", "v6lo.test:443",
        ]
        try (base + "\n[egress]\nallow = [\(allow.map { "\"\($0)\"" }.joined(separator: ", "))]\n")
            .write(toFile: policies + "/egress-test.toml", atomically: true, encoding: .utf8)
        let forwarder = ManagerFixture.repositoryRoot.appendingPathComponent(".build/sandcastle-gate/sandcastle-egress-forward").path
        let gate = ManagerFixture.repositoryRoot.appendingPathComponent(".build/sandcastle-gate/sandcastle-gate").path
        let pool = image.map {
            """

            [pool]
            root = "\(directory)/pool"
            gate = "\(gate)"
            [[pool.targets]]
            profile = "egress-test"
            image = "\($0)"
            size = 1
            refill_per_minute = 6000
            """
        }
        let config = SandcastledProcess.configuration(in: directory, policies: policies) + """
            [engine]
            stop_grace_seconds = 1
            [egress]
            forwarder = "\(forwarder)"
            hosts_file = "\(directory)/world/hosts"
            idle_timeout_seconds = 5
            connect_timeout_seconds = 2
            max_connections = 3
            """ + (pool ?? "")
        try config.write(toFile: directory + "/sandcastled.toml", atomically: true, encoding: .utf8)
    }

    /// A running session of the egress profile (`command`, `sleep` by default), trusting the
    /// test CA; returns its container.
    func createSession(_ id: String, command: [String] = ["sleep", "600"]) async throws -> String {
        let body: [String: Any] = [
            "id": id, "image": image, "profile": "egress-test", "workspace": id, "command": command,
            "env": [
                "CURL_CA_BUNDLE=/workspace/ca.pem", "GIT_SSL_CAINFO=/workspace/ca.pem", "SSL_CERT_FILE=/workspace/ca.pem",
                "NODE_EXTRA_CA_CERTS=/workspace/ca.pem",
            ],
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        let reply = try await daemon.curl([
            "-X", "POST", "http://x/v1/sessions", "-H", "Content-Type: application/json", "-d", json,
        ])
        let session = try #require(try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any], "\(reply)")
        #expect(session["state"] as? String == "running", "\(reply)")
        try FileManager.default.copyItem(atPath: directory + "/world/ca.pem", toPath: directory + "/workspaces/\(id)/ca.pem")
        return try #require(session["containerId"] as? String, "\(reply)")
    }

    /// Runs `command` in the session's container, as its user with its environment.
    func exec(_ container: String, _ command: [String]) async throws -> ChildProcess.Result {
        try await ChildProcess.run("docker", ["exec", container] + command, timeout: .seconds(90))
    }

    func restartDaemon() async throws {
        _ = await daemon.stop()
        daemon = try SandcastledProcess(configuredIn: directory, logName: "second.log")
        try await daemon.waitUntilListening()
    }

    func tearDown() async {
        _ = try? await daemon.curl(["-X", "DELETE", "http://x/v1/sessions/e1"])
        _ = try? await daemon.curl(["-X", "DELETE", "http://x/v1/sessions/r1"])
        _ = try? await daemon.curl(["-X", "DELETE", "http://x/v1/sessions/p1"])
        _ = await daemon.stop()
        let instance = ((try? String(contentsOfFile: directory + "/state/instance-id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if !instance.isEmpty {
            let listed = try? await ChildProcess.run(
                "docker", ["ps", "-aq", "--filter", "label=dev.sandcastle.instance=\(instance)"], timeout: .seconds(30))
            for id in (listed?.output ?? "").split(separator: "\n") {
                _ = try? await ChildProcess.run("docker", ["rm", "-f", String(id)], timeout: .seconds(30))
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
