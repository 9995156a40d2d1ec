import DockerEngine
import Foundation
import Glibc
import SandcastleTestSupport
import Testing

/// On a host whose `/` is a private mount (this development machine; hosts booted by systemd have
/// it shared), the engine refuses an `rslave` bind, and the warm pool must first make its slot
/// directory a shared mount of its own. Runs only inside a Docker-in-Docker container started with
/// `--propagation private` (`DinDHarnessTests`); skipped elsewhere.
@Suite(
    "slot root on a private /, inside Docker-in-Docker", .serialized,
    .enabled(
        if: InDinD.isInside && MountTable.isShared("/") == false,
        "runs only inside the container scripts/dind --propagation private starts (DinDHarnessTests)"))
struct PrivateRootInsideTests {
    @Test("an rslave slot bind is refused on a private mount, and works once the slot root is a shared bind of itself")
    func sharedSlotRoot() async throws {
        let scratch = try SlotFixture.Scratch()
        defer { scratch.remove() }
        let client = try await DockerClient.connect(.fromEnvironment())
        do {
            try await check(client, scratch: scratch)
        } catch {
            await SlotFixture.removeContainers(client, value: scratch.id)
            throw error
        }
        await SlotFixture.removeContainers(client, value: scratch.id)
    }

    func check(_ client: DockerClient, scratch: SlotFixture.Scratch) async throws {
        do {
            _ = try await SlotFixture.start(client, value: scratch.id, slot: scratch.slot, propagation: .rslave, script: "true")
            Issue.record("the engine accepted an rslave bind of \(scratch.slot), which is on a private mount")
        } catch let error as DockerError {
            #expect(error.engineMessage?.contains("not a shared or slave mount") == true, "refused otherwise: \(error)")
        }

        // What the pool does on such a host: the slot root becomes a mount of its own, shared.
        #expect(mount(scratch.root, scratch.root, nil, UInt(MS_BIND), nil) == 0, "bind \(scratch.root): errno \(errno)")
        #expect(mount(nil, scratch.root, nil, UInt(MS_SHARED), nil) == 0, "make-shared \(scratch.root): errno \(errno)")
        #expect(MountTable.isShared(scratch.root) == true)

        let slotContainer = try await SlotFixture.start(
            client, value: scratch.id, slot: scratch.slot, propagation: .rslave, script: "sleep 600")
        let pid = try #require(try await client.inspectContainer(slotContainer).state.pid)
        try "claimed".write(toFile: scratch.workspace + "/marker", atomically: false, encoding: .utf8)
        #expect(mount(scratch.workspace, scratch.slot, nil, UInt(MS_BIND), nil) == 0, "bind onto the slot: errno \(errno)")
        #expect(access("/proc/\(pid)/root/slot/marker", F_OK) == 0, "the workspace bound onto the slot is not in the container")
    }
}
