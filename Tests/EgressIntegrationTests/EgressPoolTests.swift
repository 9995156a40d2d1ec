import Foundation
import SandcastleTestSupport
import Testing

/// From the host: runs ``EgressPoolInsideTests`` inside Docker-in-Docker (a warm-pool claim
/// bind-mounts the workspace onto the slot, which must never touch the host's mount table), with
/// the Debian test image copied into the inner engine.
@Suite("Egress from the warm pool, in Docker-in-Docker", .enabled(if: InDinD.canLaunch))
struct EgressPoolInDinDTests {
    @Test func poolEgressTestsPassInsideDockerInDocker() async throws {
        let image = try #require(
            ProcessInfo.processInfo.environment["SANDCASTLE_DEBIAN_IMAGE"], "SANDCASTLE_DEBIAN_IMAGE names the Debian test image")
        let built = ManagerFixture.repositoryRoot.appendingPathComponent(".build/sandcastle-gate/sandcastle-egress-forward").path
        try #require(FileManager.default.isExecutableFile(atPath: built), "run scripts/build-gate first")
        try await InDinD.expectPasses(
            filter: "EgressPoolInsideTests", count: 1, images: [image], rootPropagation: .private)
    }
}

/// The real daemon with a warm pool of the egress profile: a session claimed from the pool gets
/// its egress exactly as a cold one does (the forwarder in front of its command, the proxy
/// variables in its environment, its own socket), reaches an allowed server and is refused a
/// denied one, and keeps its egress across a daemon restart. Run only inside Docker-in-Docker.
@Suite("Egress from the warm pool, inside Docker-in-Docker", .serialized, .enabled(if: InDinD.isInside))
struct EgressPoolInsideTests {
    @Test func aSessionClaimedFromThePoolReachesWhatItsProfileAllows() async throws {
        try await EgressWorld.with(pool: true) { world in
            try await eventually("a ready egress pool container", timeout: .seconds(90)) {
                (try? await world.daemon.curl(["http://x/v1/pools"]))?.contains(#""ready":1"#) == true
            }
            // The session's own command (started by the gate) records what it sees; the CA is
            // copied into its workspace once it runs.
            let script = """
                until [ -f /workspace/ca.pem ]; do sleep 0.05; done
                env | grep -i -E '^(https?_proxy|no_proxy)=' | sort > /workspace/env.out
                curl -sSf https://allowed.test/ > /workspace/allowed.out 2>&1
                curl -sSv https://denied.test/ > /workspace/denied.out 2>&1
                touch /workspace/done
                exec sleep 600
                """
            let container = try await world.createSession("p1", command: ["bash", "-c", script])
            let label = try await ChildProcess.run(
                "docker", ["inspect", "-f", #"{{index .Config.Labels "dev.sandcastle.pool-slot"}}"#, container],
                timeout: .seconds(30))
            let slot = label.output.trimmingCharacters(in: .whitespacesAndNewlines)
            try #require(!slot.isEmpty && label.status == 0, "not claimed from the pool: \(label.output)")
            let slotEgress = world.directory + "/egress/.pool/" + slot
            #expect(FileManager.default.fileExists(atPath: slotEgress + "/proxy.sock"), "the session's socket is in its slot's directory")

            let workspace = world.directory + "/workspaces/p1"
            try await eventually("the session's requests", timeout: .seconds(60)) {
                FileManager.default.fileExists(atPath: workspace + "/done")
            }
            let read = { (name: String) in (try? String(contentsOfFile: workspace + "/" + name, encoding: .utf8)) ?? "" }
            #expect(read("allowed.out") == "hello from allowed.test over https\n", "\(read("allowed.out"))")
            #expect(
                read("denied.out").contains("403 egress to denied.test:443 is not allowed by profile egress-test"),
                "\(read("denied.out"))")
            let proxy = "http://127.0.0.1:3128"
            #expect(
                read("env.out").split(separator: "\n").map(String.init) == [
                    "HTTPS_PROXY=\(proxy)", "HTTP_PROXY=\(proxy)", "NO_PROXY=localhost,127.0.0.1,::1", "http_proxy=\(proxy)",
                    "https_proxy=\(proxy)", "no_proxy=localhost,127.0.0.1,::1",
                ], "\(read("env.out"))")

            // The proxy is the session's: its counters show the tunnel and the denial.
            let shown = try await world.daemon.curl(["-f", "http://x/v1/sessions/p1"])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])
            let counters = try #require((json["egress"] as? [String: Any])?["counters"] as? [String: Any], "\(shown)")
            #expect((counters["connections"] as? Int ?? 0) >= 1, "\(counters)")
            #expect((counters["denied"] as? Int ?? 0) >= 1, "\(counters)")

            // A restarted daemon opens the socket again in the slot's directory, which the
            // running container binds (the forwarder is the session's; curl here runs beside it).
            try await world.restartDaemon()
            // As the session's uid: a pool container's own user is the gate's root, without the
            // capabilities to read the workspace.
            let uid = try #require(try FileManager.default.attributesOfItem(atPath: workspace)[.ownerAccountID] as? NSNumber)
            let again = try await ChildProcess.run(
                "docker",
                [
                    "exec", "-u", "\(uid)", container, "env", "HTTPS_PROXY=http://127.0.0.1:3128", "curl", "-sSf", "--cacert",
                    "/workspace/ca.pem", "https://allowed.test/",
                ], timeout: .seconds(90))
            #expect(again.output == "hello from allowed.test over https\n", "after a restart: \(again.output)")

            // Removing the session removes the slot's egress directory with it.
            let removed = try await world.daemon.curl(["-X", "DELETE", "-w", "%{http_code}", "http://x/v1/sessions/p1"])
            #expect(removed.hasSuffix("204") || removed.hasSuffix("200"), "\(removed)")
            #expect(!FileManager.default.fileExists(atPath: slotEgress), "the slot's egress directory stayed")
        }
    }
}
