import Foundation
import Glibc
import SandcastleTestSupport
import Testing

/// `scripts/dind` from the host: it runs a command next to an engine of its own inside a container,
/// with what that command is promised, and cleans up; and the warm pool's mount mechanism works
/// there (`SlotPropagationInsideTests`, re-run inside) while the host's mount table stays as it was.
@Suite("Docker-in-Docker harness, from the host", .serialized, .enabled(if: InDinD.canLaunch, "needs root on the host"))
struct DinDHarnessTests {
    @Test("the slot-propagation proof passes inside Docker-in-Docker, and nothing is mounted on the host")
    func proofInside() async throws {
        let run = try await InDinD.expectPasses(filter: "SlotPropagationInsideTests", count: 2)
        if let line = run.output.split(separator: "\n").first(where: { $0.contains("slot bind: mount(2) took") }) {
            print(line)
        }
    }

    @Test("with / private in the container, an rslave slot needs a shared slot root (proof inside)")
    func privateRootInside() async throws {
        try await InDinD.expectPasses(filter: "PrivateRootInsideTests", count: 1, rootPropagation: .private)
    }

    @Test("scripts/dind gives the command the inner engine and another mount namespace, exits with its status, and removes its container")
    func statusAndCleanUp() async throws {
        let name = "sandcastle-dind-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Exit 3 only when everything the command is promised holds.
        let script = """
            [ "$(readlink /proc/self/ns/mnt)" != "$SANDCASTLE_DIND_HOST_MNTNS" ] || exit 10
            [ "$DOCKER_HOST" = unix:///run/dind/docker.sock ] || exit 11
            [ "$SANDCASTLE_DIND" = "\(name)" ] || exit 12
            [ "$(pwd)" = "\(InDinD.repositoryRoot)" ] || exit 13
            [ -x "$(pwd)/scripts/dind" ] || exit 14
            docker image inspect "$SANDCASTLE_TEST_IMAGE" >/dev/null || exit 15
            exit 3
            """
        let run = try await InDinD.run(["run", "--name", name, "--", "/bin/sh", "-c", script], timeout: .seconds(300))
        #expect(run.status == 3, "scripts/dind exited \(run.status):\n\(run.output)")
        #expect(run.hostMounts.isClean, "the host's mount table changed: \(run.hostMounts)")
        let left = try await ChildProcess.run(
            "docker", ["ps", "-aq", "--filter", "name=^\(name)$"], timeout: .seconds(60))
        #expect(left.status == 0 && left.output.isEmpty, "the container \(name) is still there: \(left.output)")
        #expect(access("/run/sandcastle-dind/\(name)", F_OK) != 0, "its socket directory is still there")
    }
}
