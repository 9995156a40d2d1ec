import TOMLConfig
import DockerEngine
import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Launch spec")
struct LaunchSpecTests {
    static let workspacePath = "/var/lib/sandcastle/workspaces/demo"
    static let user = WorkspaceUser(uid: 2_000_123)

    func build(
        _ request: SessionLaunchRequest = sampleRequest(), profile: SandboxProfile? = nil,
        workspace: WorkspaceMount = WorkspaceMount(hostPath: workspacePath), user: WorkspaceUser = user,
        sessionID: String = "s-1"
    ) throws -> ContainerConfig {
        try LaunchSpec.containerConfig(
            request: request, profile: try profile ?? Shipped.profile("default"), workspace: workspace, user: user,
            sessionID: sessionID)
    }

    func host() throws -> HostConfig {
        try #require(try build().hostConfig)
    }

    @Test("Config: user, image, command, env, TTY and stdin, working directory, network off")
    func config() throws {
        let config = try build()
        #expect(config.user == "2000123:2000123")
        #expect(config.image == "sandcastle/agent:1.0")
        #expect(config.cmd == ["bash", "-l"])
        #expect(config.entrypoint == nil)
        #expect(config.env == ["TERM=xterm-256color", "LANG=C.UTF-8", "HOME=/workspace"])
        #expect(config.workingDir == "/workspace")
        #expect(config.tty == true && config.openStdin == true && config.stdinOnce == false)
        #expect(config.attachStdin == true && config.attachStdout == true && config.attachStderr == true)
        #expect(config.networkDisabled == true)
        #expect(config.hostname == nil)
    }

    @Test("HOME from the request wins; an empty command leaves the image's")
    func homeAndCommand() throws {
        var request = sampleRequest()
        request.env = ["HOME=/tmp"]
        request.command = []
        let config = try build(request)
        #expect(config.env == ["HOME=/tmp"])
        #expect(config.cmd == nil)
    }

    @Test("Labels: ours, and the caller's under their prefix")
    func labels() throws {
        #expect(
            try build().labels == [
                "dev.sandcastle.managed": "true", "dev.sandcastle.session": "s-1", "dev.sandcastle.profile": "default",
                "dev.sandcastle.workspace": "demo", "dev.sandcastle.label.team": "web",
            ])
    }

    @Test("privileges: not privileged, all capabilities dropped, none added, no new privileges")
    func privileges() throws {
        let host = try host()
        #expect(host.privileged == false)
        #expect(host.capDrop == ["ALL"])
        #expect(host.capAdd == nil)
        #expect(host.securityOpt?.first == "no-new-privileges:true")
        #expect(host.securityOpt?.count == 2)
    }

    @Test("SecurityOpt carries the profile's seccomp JSON text, minified, never a path")
    func seccompText() throws {
        let option = try #require(try host().securityOpt?.last)
        #expect(option.hasPrefix("seccomp={"))
        let text = String(option.dropFirst("seccomp=".count))
        #expect(text == (try Shipped.profile("default")).seccomp.json)
        #expect(!text.contains("\n"))
        #expect(
            SeccompProfile.parse(json: Data(text.utf8), log: ProblemLog())
                == (try Shipped.profile("default")).seccomp.profile)
    }

    @Test("namespaces: network none, private IPC with a small /dev/shm, private cgroup ns, host ones never")
    func namespaces() throws {
        let host = try host()
        #expect(host.networkMode == "none")
        #expect(host.ipcMode == "private")
        #expect(host.shmSize == 16 << 20)
        #expect(host.pidMode == nil && host.utsMode == nil && host.usernsMode == nil)
        #expect(host.cgroupnsMode == "private")
    }

    @Test("file systems: read-only root, /tmp tmpfs owned by the workspace uid, one rprivate bind, no Binds")
    func fileSystems() throws {
        let host = try host()
        #expect(host.readonlyRootfs == true)
        #expect(host.tmpfs == ["/tmp": "rw,nosuid,nodev,size=268435456,uid=2000123,gid=2000123"])
        #expect(
            host.mounts == [
                Mount(
                    type: .bind, source: Self.workspacePath, target: "/workspace", readOnly: false,
                    bindOptions: Mount.BindOptions(propagation: .rprivate))
            ])
        #expect(host.binds == nil && host.volumesFrom == nil)
    }

    @Test("a pool slot binds rslave")
    func poolSlot() throws {
        let config = try build(workspace: WorkspaceMount(hostPath: "/var/lib/sandcastle/slots/3", use: .poolSlot))
        #expect(config.hostConfig?.mounts?.first?.bindOptions?.propagation == .rslave)
    }

    @Test("resources: memory = swap, no swappiness, CPUs, pids, ulimits nofile and core, never nproc")
    func resources() throws {
        let host = try host()
        #expect(host.memory == 512 << 20)
        #expect(host.memorySwap == 512 << 20)
        #expect(host.memorySwappiness == 0)
        #expect(host.nanoCpus == 500_000_000)
        #expect(host.pidsLimit == 512)
        #expect(
            host.ulimits == [Ulimit(name: "nofile", soft: 4096, hard: 4096), Ulimit(name: "core", soft: 0, hard: 0)])
        #expect(host.oomScoreAdj == 500)
    }

    @Test("devices, sysctls, runtime, masked paths: left unset")
    func unset() throws {
        let host = try host()
        #expect(host.devices == nil && host.deviceCgroupRules == nil)
        #expect(host.maskedPaths == nil && host.readonlyPaths == nil)
        #expect(host.sysctls == nil && host.runtime == nil && host.extraHosts == nil && host.portBindings == nil)
        #expect(host.publishAllPorts == nil && host.groupAdd == nil && host.oomKillDisable == nil)
    }

    @Test("lifecycle: json-file logs capped, init, no restart, no auto-remove")
    func lifecycle() throws {
        let host = try host()
        #expect(host.logConfig == LogConfig(type: "json-file", config: ["max-size": "1m", "max-file": "2"]))
        #expect(host.`init` == true)
        #expect(host.restartPolicy == RestartPolicy(name: "no"))
        #expect(host.autoRemove == false)
    }

    @Test("the body encodes with the engine's field names")
    func encoding() throws {
        let data = try JSONEncoder().encode(try build())
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let hostConfig = try #require(object["HostConfig"] as? [String: Any])
        #expect(hostConfig["CapDrop"] as? [String] == ["ALL"])
        #expect(hostConfig["NetworkMode"] as? String == "none")
        #expect(hostConfig["Binds"] == nil)
        #expect(object["User"] as? String == "2000123:2000123")
    }

    @Test("the capabilities granted are added")
    func capAdd() throws {
        let (profile, request) = try debugGrantingPtrace()
        let config = try build(request, profile: profile)
        #expect(config.hostConfig?.capAdd == ["CAP_SYS_PTRACE"])
        #expect(config.hostConfig?.securityOpt?.last?.contains("\"ptrace\"") == true)
    }

    @Test("root and a uid outside the range are refused")
    func users() throws {
        for user in [WorkspaceUser(uid: 0), WorkspaceUser(uid: 2_000_000, gid: 0)] {
            #expect(expectRejection { try build(user: user) }?.reasons == [.rootUser])
        }
        #expect(expectRejection { try build(user: WorkspaceUser(uid: 1000)) }?.reasons == [.userOverride])
    }

    @Test(
        "workspace paths overlapping the Docker socket or system directories are refused",
        arguments: [
            ("/var/run", RequestProblem.Reason.dockerSocket), ("/run", .dockerSocket), ("/var", .dockerSocket),
            ("/var/run/docker.sock", .dockerSocket), ("/", .invalidWorkspace), ("/etc/x", .invalidWorkspace),
            ("/proc/1/root", .invalidWorkspace), ("/var/lib/docker/volumes/x", .invalidWorkspace),
            ("relative/x", .invalidWorkspace), ("/srv/ws/../x", .invalidWorkspace), ("/srv//x", .invalidWorkspace),
            ("/srv/ws/", .invalidWorkspace),
        ])
    func workspacePaths(path: String, reason: RequestProblem.Reason) throws {
        let rejection = expectRejection { try build(workspace: WorkspaceMount(hostPath: path)) }
        #expect(rejection?.reasons == [reason])
    }

    @Test("a profile with a workspace size limit is refused unless a limiter put the limit in force")
    func workspaceSize() throws {
        var profile = try Shipped.profile("default")
        profile.workspaceSizeBytes = 2 << 30
        let refused = expectRejection { try build(profile: profile) }
        #expect(refused?.reasons == [.unsupported])
        #expect(refused?.description.contains("not supported on this host yet") == true)
        let limited = WorkspaceMount(hostPath: Self.workspacePath, enforcedSizeLimitBytes: 2 << 30)
        #expect(throws: Never.self) { try build(profile: profile, workspace: limited) }
    }

    @Test("profile values the engine reads as unlimited are refused even if set after loading")
    func unlimited() throws {
        var profile = try Shipped.profile("default")
        profile.pidsLimit = 0
        profile.memoryBytes = -1
        let rejection = expectRejection { try build(profile: profile) }
        #expect(rejection?.problems.map(\.field) == ["pids_limit", "memory"])
    }

    @Test("the request is approved first: an image the profile does not allow is refused")
    func approvesFirst() throws {
        var request = sampleRequest()
        request.image = "alpine:3"
        #expect(expectRejection { try build(request) }?.reasons == [.imageNotAllowed])
    }
}
