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
    static var image: String { ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest" }

    @Test("the engine is the container's own, with the test image loaded")
    func engine() async throws {
        let client = try await DockerClient.connect(.fromEnvironment())
        let info = try await client.info()
        let container = try #require(ProcessInfo.processInfo.environment[InDinD.containerVariable])
        // The inner dockerd runs on the container's hostname, which scripts/dind sets to its name.
        #expect(info.name == container, "DOCKER_HOST answers as \(info.name ?? "?"), not as \(container)")
        #expect(info.dockerRootDir == "/var/lib/docker")
        #expect(info.memoryLimit == true && info.pidsLimit == true, "the inner engine cannot limit memory or pids")
        _ = try await client.inspectImage(Self.image)
        #expect(MountTable.namespace != ProcessInfo.processInfo.environment[InDinD.hostNamespaceVariable])
    }

    @Test("a workspace bound onto an rslave slot after start appears in the running container, and goes on unmount")
    func rslaveSlot() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let client = try await DockerClient.connect(.fromEnvironment())
        let token = "claimed-\(UInt64.random(in: 0...UInt64.max))"
        try token.write(toFile: scratch.workspace + "/marker", atomically: false, encoding: .utf8)
        do {
            try await claim(client, scratch: scratch, token: token)
        } catch {
            await Self.removeContainers(client, value: scratch.id)
            throw error
        }
        await Self.removeContainers(client, value: scratch.id)
    }

    func claim(_ client: DockerClient, scratch: Scratch, token: String) async throws {

        // The slot container's first process waits for the workspace, checks it, writes into it, waits
        // for it to go: exit 0 only if it saw exactly that, by itself, in its own mount namespace.
        let watcher = try await Self.start(
            client, value: scratch.id, slot: scratch.slot, propagation: .rslave,
            script: "until [ -e /slot/marker ]; do usleep 1000; done; [ \"$(cat /slot/marker)\" = \"\(token)\" ] || exit 2; "
                + "echo seen >/slot/seen || exit 3; while [ -e /slot/marker ]; do usleep 1000; done; exit 0")
        // The control: the same slot bound rprivate never sees it.
        let control = try await Self.start(
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
            "slot bind: mount(2) took \(Self.microseconds(mounted - before)) µs; visible in the container "
                + "\(visible.map { Self.microseconds($0 - mounted) } ?? "never") µs after it returned")
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

    static let label = "dev.sandcastle.test.dind-proof"

    static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1e6 + Double(attoseconds) / 1e12)
    }

    static func start(
        _ client: DockerClient, value: String, slot: String, propagation: Mount.Propagation, script: String
    ) async throws -> String {
        let host = HostConfig(
            networkMode: "none",
            mounts: [Mount(type: .bind, source: slot, target: "/slot", bindOptions: .init(propagation: propagation))])
        let config = ContainerConfig(
            user: "1000:1000", cmd: ["/bin/sh", "-c", script], image: image, labels: [label: value], hostConfig: host)
        let created = try await client.createContainer(name: nil, config: config)
        try await client.startContainer(created.id)
        return created.id
    }

    static func removeContainers(_ client: DockerClient, value: String) async {
        var filters = DockerFilters()
        filters.label(label, value)
        for container in (try? await client.listContainers(all: true, filters: filters)) ?? [] {
            try? await client.removeContainer(container.id, force: true)
        }
    }

    /// A slot directory and a workspace under /var/tmp of the Docker-in-Docker container.
    struct Scratch {
        let root: String
        var id: String { (root as NSString).lastPathComponent }
        var slot: String { root + "/slot" }
        var workspace: String { root + "/workspace" }

        init() throws {
            var template = Array("/var/tmp/sandcastle-dind-proof-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw ChildProcess.Failure("mkdtemp failed: errno \(errno)") }
            root = String(cString: made)
            chmod(root, 0o755)
            for directory in [slot, workspace] {
                guard mkdir(directory, 0o755) == 0 else { throw ChildProcess.Failure("mkdir \(directory): errno \(errno)") }
            }
            // The workspace belongs to the session's uid, as the daemon's workspaces do.
            guard chown(workspace, 1000, 1000) == 0 else { throw ChildProcess.Failure("chown \(workspace): errno \(errno)") }
        }

        func remove() {
            _ = umount2(slot, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}
