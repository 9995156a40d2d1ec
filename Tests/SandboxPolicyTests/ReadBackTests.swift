import DockerEngine
import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Read-back verification")
struct ReadBackTests {
    /// The inputs `Fixtures/inspect-default.json` was created from (see `Fixtures/regenerate.sh`).
    static let workspace = "/tmp/sandcastle-policy-fixture/demo"
    static let sessionID = "fixture-session"
    static let user = WorkspaceUser(uid: 2_000_000)

    static func fixtureRequest() -> SessionLaunchRequest {
        var request = sampleRequest()
        request.image = "sandcastle/policy-dev:fixture"
        request.command = ["sh"]
        return request
    }

    static func expected() throws -> ContainerConfig {
        try LaunchSpec.containerConfig(
            request: fixtureRequest(), profile: try Shipped.profile("default"),
            workspace: WorkspaceMount(hostPath: workspace),
            user: user, sessionID: sessionID)
    }

    static func inspected() throws -> InspectedContainer {
        let url = try #require(
            Bundle.module.url(forResource: "inspect-default", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(InspectedContainer.self, from: try Data(contentsOf: url))
    }

    func violations(_ change: (inout InspectedContainer) -> Void) throws -> [PolicyViolation] {
        var inspected = try Self.inspected()
        change(&inspected)
        return ReadBack.verify(inspected: inspected, expected: try Self.expected(), resolvedWorkspace: Self.workspace)
    }

    func fields(_ change: (inout InspectedContainer) -> Void) throws -> [String] {
        try violations(change).map(\.field)
    }

    /// Writes the create body the fixture is made from when `SANDCASTLE_WRITE_CREATE_BODY` names a
    /// file; `Fixtures/regenerate.sh` sets it.
    @Test("create body for regenerating the fixture")
    func writeCreateBody() throws {
        guard let path = ProcessInfo.processInfo.environment["SANDCASTLE_WRITE_CREATE_BODY"] else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(try Self.expected()).write(to: URL(fileURLWithPath: path))
    }

    @Test("what Docker 20.10 reports for our create body passes, normalisations included")
    func realEngine() throws {
        let inspected = try Self.inspected()
        // The engine filled in what we left unset, and merged the image's environment.
        #expect(inspected.hostConfig.maskedPaths?.isEmpty == false)
        #expect(inspected.hostConfig.restartPolicy?.name == "no")
        #expect(inspected.config.env?.contains("PATH=/bin") == true)
        #expect(try violations { _ in } == [])
    }

    @Test("semantic equivalents pass: empty restart policy, CAP_ spelling, tmpfs option order, null lists")
    func normalisations() throws {
        #expect(
            try violations {
                $0.hostConfig.restartPolicy = RestartPolicy(name: "")
                $0.hostConfig.capDrop = ["all"]
                $0.hostConfig.tmpfs = ["/tmp": "nodev,nosuid,rw,gid=2000000,uid=2000000,size=268435456"]
                $0.hostConfig.devices = []
                $0.hostConfig.binds = nil
                $0.config.labels?["org.opencontainers.image.title"] = "from the image"
            } == [])
    }

    /// One change to an inspected container, and the field the read-back must name for it.
    struct Tamper: Sendable, CustomStringConvertible {
        let field: String
        let apply: @Sendable (inout InspectedContainer) -> Void

        init(_ field: String, _ apply: @escaping @Sendable (inout InspectedContainer) -> Void) {
            self.field = field
            self.apply = apply
        }

        var description: String { field }
    }

    static let tampers: [Tamper] = [
        Tamper("HostConfig.Privileged") { $0.hostConfig.privileged = true },
        Tamper("HostConfig.CapDrop") { $0.hostConfig.capDrop = ["NET_RAW"] },
        Tamper("HostConfig.CapAdd") { $0.hostConfig.capAdd = ["SYS_ADMIN"] },
        Tamper("HostConfig.NetworkMode") { $0.hostConfig.networkMode = "host" },
        Tamper("HostConfig.IpcMode") { $0.hostConfig.ipcMode = "host" },
        Tamper("HostConfig.PidMode") { $0.hostConfig.pidMode = "host" },
        Tamper("HostConfig.UTSMode") { $0.hostConfig.utsMode = "host" },
        Tamper("HostConfig.UsernsMode") { $0.hostConfig.usernsMode = "host" },
        Tamper("HostConfig.CgroupnsMode") { $0.hostConfig.cgroupnsMode = "host" },
        Tamper("HostConfig.ReadonlyRootfs") { $0.hostConfig.readonlyRootfs = false },
        Tamper("HostConfig.Tmpfs") { $0.hostConfig.tmpfs = ["/tmp": "rw,size=268435456"] },
        Tamper("HostConfig.Binds non-empty") { $0.hostConfig.binds = ["/:/host"] },
        Tamper("HostConfig.VolumesFrom non-empty") { $0.hostConfig.volumesFrom = ["other"] },
        Tamper("HostConfig.Memory") { $0.hostConfig.memory = 0 },
        Tamper("HostConfig.MemorySwap") { $0.hostConfig.memorySwap = -1 },
        Tamper("HostConfig.MemorySwappiness") { $0.hostConfig.memorySwappiness = 60 },
        Tamper("HostConfig.NanoCpus") { $0.hostConfig.nanoCpus = 0 },
        Tamper("HostConfig.PidsLimit") { $0.hostConfig.pidsLimit = 4096 },
        Tamper("HostConfig.Ulimits") {
            $0.hostConfig.ulimits = [Ulimit(name: "nofile", soft: 1_048_576, hard: 1_048_576)]
        },
        Tamper("HostConfig.Devices non-empty") { $0.hostConfig.devices = [DeviceMapping(pathOnHost: "/dev/kvm")] },
        Tamper("HostConfig.DeviceCgroupRules non-empty") { $0.hostConfig.deviceCgroupRules = ["c *:* rwm"] },
        Tamper("HostConfig.GroupAdd non-empty") { $0.hostConfig.groupAdd = ["docker"] },
        Tamper("HostConfig.OomKillDisable") { $0.hostConfig.oomKillDisable = true },
        Tamper("HostConfig.OomScoreAdj") { $0.hostConfig.oomScoreAdj = -1000 },
        Tamper("HostConfig.LogConfig.Type") { $0.hostConfig.logConfig = LogConfig(type: "none") },
        Tamper("HostConfig.Init") { $0.hostConfig.`init` = false },
        Tamper("HostConfig.MaskedPaths") { $0.hostConfig.maskedPaths = [] },
        Tamper("HostConfig.ReadonlyPaths") { $0.hostConfig.readonlyPaths = ["/proc/sys"] },
        Tamper("HostConfig.RestartPolicy.Name") { $0.hostConfig.restartPolicy = RestartPolicy(name: "always") },
        Tamper("HostConfig.AutoRemove") { $0.hostConfig.autoRemove = true },
        Tamper("HostConfig.Sysctls") { $0.hostConfig.sysctls = ["kernel.shmmax": "1"] },
        Tamper("HostConfig.ShmSize") { $0.hostConfig.shmSize = 1 << 30 },
        Tamper("Config.User") { $0.config.user = "2000001:2000001" },
        Tamper("Config.Image") { $0.config.image = "sandcastle/other:1" },
        Tamper("Config.WorkingDir") { $0.config.workingDir = "/" },
        Tamper("Config.Cmd") { $0.config.cmd = ["sh", "-c", "evil"] },
        Tamper("Config.Tty") { $0.config.tty = false },
        Tamper("Config.NetworkDisabled") { $0.config.networkDisabled = false },
        Tamper("Config.Env") { $0.config.env = ["PATH=/bin"] },
        Tamper("Config.Labels[dev.sandcastle.session]") { $0.config.labels?["dev.sandcastle.session"] = "other" },
        Tamper("Config.Labels[dev.sandcastle.extra]") { $0.config.labels?["dev.sandcastle.extra"] = "x" },
    ]

    @Test("each changed field is named", arguments: tampers)
    func namedField(tamper: Tamper) throws {
        let found = try fields(tamper.apply)
        #expect(found.contains(tamper.field), "\(found)")
    }

    @Test("a root user is named even when it is what we asked for")
    func rootUser() throws {
        #expect(try fields { $0.config.user = "" }.contains("Config.User"))
    }

    @Test("SecurityOpt: no-new-privileges missing, another filter, unconfined, extra options")
    func securityOptions() throws {
        let original = try Self.inspected().hostConfig.securityOpt ?? []
        let seccomp = try #require(original.first { $0.hasPrefix("seccomp=") })
        #expect(try fields { $0.hostConfig.securityOpt = [seccomp] } == ["HostConfig.SecurityOpt"])
        #expect(
            try fields { $0.hostConfig.securityOpt = ["no-new-privileges:true", "seccomp=unconfined"] } == [
                "HostConfig.SecurityOpt"
            ])
        #expect(try fields { $0.hostConfig.securityOpt = ["no-new-privileges:true"] } == ["HostConfig.SecurityOpt"])
        #expect(
            try fields { $0.hostConfig.securityOpt = original + ["apparmor=unconfined"] } == ["HostConfig.SecurityOpt"])
        let weaker = seccomp.replacingOccurrences(of: "\"accept\",", with: "\"accept\",\"bpf\",")
        #expect(weaker != seccomp)
        #expect(
            try fields { $0.hostConfig.securityOpt = ["no-new-privileges:true", weaker] } == ["HostConfig.SecurityOpt"])
        // The same filter written out differently (an engine that re-serialises it) is the same filter.
        let respaced = seccomp.replacingOccurrences(of: "\",\"", with: "\", \"")
        #expect(respaced != seccomp)
        #expect(try fields { $0.hostConfig.securityOpt = ["no-new-privileges:true", respaced] } == [])
        let weakerRespaced = weaker.replacingOccurrences(of: "\",\"", with: "\", \"")
        #expect(
            try fields { $0.hostConfig.securityOpt = ["no-new-privileges:true", weakerRespaced] } == ["HostConfig.SecurityOpt"])
    }

    @Test("mounts: another source, another propagation, an extra mount or an image volume")
    func mounts() throws {
        #expect(
            try fields { $0.hostConfig.mounts?[0].source = "/tmp/elsewhere" }.contains("HostConfig.Mounts[0].Source"))
        #expect(try fields { $0.mounts[0].source = "/tmp/elsewhere" }.contains("Mounts[0].Source"))
        #expect(try fields { $0.mounts[0].propagation = "rshared" }.contains("Mounts[0].Propagation"))
        #expect(try fields { $0.mounts[0].rw = false }.contains("Mounts[0].RW"))
        let volume = InspectedMount(
            type: "volume", name: "abc", source: "/var/lib/docker/volumes/abc/_data", destination: "/data", rw: true,
            propagation: "")
        let found = try fields { $0.mounts.append(volume) }
        #expect(found.contains("Mounts") && found.contains("Mounts[1]"))
        #expect(
            try fields {
                $0.hostConfig.mounts?.append(
                    Mount(type: .bind, source: "/var/run/docker.sock", target: "/var/run/docker.sock"))
            }.contains("HostConfig.Mounts"))
    }

    @Test("the resolved workspace must be what the spec binds")
    func resolvedWorkspace() throws {
        let found = ReadBack.verify(
            inspected: try Self.inspected(), expected: try Self.expected(), resolvedWorkspace: "/tmp/other")
        #expect(found.map(\.field).contains("expected HostConfig.Mounts"))
        #expect(found.map(\.field).contains("Mounts[0].Source"))
    }
}
