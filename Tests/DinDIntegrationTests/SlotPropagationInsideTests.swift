import DockerEngine
import Foundation
import Glibc
import SandcastleTestSupport
import Testing

/// The warm pool's mechanism, for real: a container started with a slot directory bound `rslave`
/// sees a workspace that is bind-mounted onto that slot afterwards. Runs only inside the
/// Docker-in-Docker container (`DinDHarnessTests` starts it), where the mounts land in the
/// container's mount namespace; skipped on the host.
@Suite(
    "slot propagation, inside Docker-in-Docker", .serialized,
    .enabled(if: InDinD.isInside, "runs only inside the container scripts/dind starts (DinDHarnessTests)"))
struct SlotPropagationInsideTests {
    @Test("the engine is the container's own, with the test image loaded")
    func engine() async throws {
        let client = try await DockerClient.connect(.fromEnvironment())
        let info = try await client.info()
        let container = try #require(ProcessInfo.processInfo.environment[InDinD.containerVariable])
        // The inner dockerd runs on the container's hostname, which scripts/dind sets to its name.
        #expect(info.name == container, "DOCKER_HOST answers as \(info.name ?? "?"), not as \(container)")
        #expect(info.dockerRootDir == "/var/lib/docker")
        #expect(info.memoryLimit == true && info.pidsLimit == true, "the inner engine cannot limit memory or pids")
        _ = try await client.inspectImage(SlotFixture.image)
        #expect(MountTable.namespace != ProcessInfo.processInfo.environment[InDinD.hostNamespaceVariable])
    }

    @Test("a workspace bound onto an rslave slot after start appears in the running container, and goes on unmount")
    func rslaveSlot() async throws {
        let scratch = try SlotFixture.Scratch()
        defer { scratch.remove() }
        let client = try await DockerClient.connect(.fromEnvironment())
        let token = "claimed-\(UInt64.random(in: 0...UInt64.max))"
        try token.write(toFile: scratch.workspace + "/marker", atomically: false, encoding: .utf8)
        do {
            try await claim(client, scratch: scratch, token: token)
        } catch {
            await SlotFixture.removeContainers(client, value: scratch.id)
            throw error
        }
        await SlotFixture.removeContainers(client, value: scratch.id)
    }

    func claim(_ client: DockerClient, scratch: SlotFixture.Scratch, token: String) async throws {

        // The slot container's first process waits for the workspace, checks it, writes into it, waits
        // for it to go: exit 0 only if it saw exactly that, by itself, in its own mount namespace.
        let watcher = try await SlotFixture.start(
            client, value: scratch.id, slot: scratch.slot, propagation: .rslave,
            script: "until [ -e /slot/marker ]; do usleep 1000; done; [ \"$(cat /slot/marker)\" = \"\(token)\" ] || exit 2; "
                + "echo seen >/slot/seen || exit 3; while [ -e /slot/marker ]; do usleep 1000; done; exit 0")
        // The control: the same slot bound rprivate never sees it.
        let control = try await SlotFixture.start(
            client, value: scratch.id, slot: scratch.slot, propagation: .rprivate, script: "sleep 600")
        let watcherPID = try #require(try await client.inspectContainer(watcher).state.pid)
        let controlPID = try #require(try await client.inspectContainer(control).state.pid)
        #expect(access("/proc/\(watcherPID)/root/slot/marker", F_OK) != 0, "the slot is not empty before the claim")

        let before = ContinuousClock.now
        guard mount(scratch.workspace, scratch.slot, nil, UInt(MS_BIND), nil) == 0 else {
            Issue.record("mount --bind \(scratch.workspace) \(scratch.slot) failed: errno \(errno)")
            return
        }
        let mounted = ContinuousClock.now
        var visible: ContinuousClock.Instant?
        while ContinuousClock.now - mounted < .seconds(5) {
            if access("/proc/\(watcherPID)/root/slot/marker", F_OK) == 0 {
                visible = ContinuousClock.now
                break
            }
        }
        print(
            "slot bind: mount(2) took \(SlotFixture.microseconds(mounted - before)) µs; visible in the container "
                + "\(visible.map { SlotFixture.microseconds($0 - mounted) } ?? "never") µs after it returned")
        #expect(visible != nil, "the workspace bound onto the slot never appeared in the rslave container")
        #expect(access("/proc/\(controlPID)/root/slot/marker", F_OK) != 0, "the rprivate control container sees the slot mount")

        // Its own process answers through the workspace (uid 1000 writes there) before the unmount.
        let answered = ContinuousClock.now
        while access(scratch.workspace + "/seen", F_OK) != 0, ContinuousClock.now - answered < .seconds(20) {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(access(scratch.workspace + "/seen", F_OK) == 0, "the slot container's process never wrote into the workspace")

        #expect(umount2(scratch.slot, 0) == 0, "umount \(scratch.slot): errno \(errno)")
        let ended = try await client.waitContainer(watcher, timeout: .seconds(30))
        #expect(ended.statusCode == 0, "the slot container's own process did not see the workspace come and go (exit \(ended.statusCode))")
    }
}
