import DockerEngine
import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Warm-pool container spec and its read-back")
struct PoolLaunchSpecTests {
    static let slotDirectory = "/var/lib/sandcastle/pool/0123abcd"
    static let gate = GateMount(hostPath: "/usr/local/libexec/sandcastle/sandcastle-gate")

    static func config() throws -> ContainerConfig {
        try LaunchSpec.poolContainerConfig(
            profile: try Shipped.profile("default"), image: "sandcastle/testbox:latest",
            slot: WorkspaceMount(hostPath: slotDirectory, use: .poolSlot), gate: gate, slotID: "0123abcd")
    }

    /// What an engine that applied the body exactly would report.
    static func inspected() throws -> InspectedContainer {
        try engineView(of: try config(), mounts: [])
    }

    /// What an engine that applied `config` (a pool container's) exactly would report: the slot
    /// and the gate, then `mounts`.
    static func engineView(of config: ContainerConfig, mounts: [InspectedMount]) throws -> InspectedContainer {
        var host = try #require(config.hostConfig)
        host.maskedPaths = Array(ReadBack.requiredMaskedPaths)
        host.readonlyPaths = Array(ReadBack.requiredReadonlyPaths)
        return InspectedContainer(
            config: config, hostConfig: host,
            mounts: [
                InspectedMount(type: "bind", source: slotDirectory, destination: "/workspace", rw: true, propagation: "rslave"),
                InspectedMount(type: "bind", source: gate.hostPath, destination: GateMount.target, rw: false, propagation: "rprivate"),
            ] + mounts)
    }

    func fields(_ change: (inout InspectedContainer) -> Void) throws -> [String] {
        var inspected = try Self.inspected()
        change(&inspected)
        return ReadBack.verify(inspected: inspected, expected: try Self.config(), resolvedWorkspace: Self.slotDirectory, gate: Self.gate)
            .map(\.field)
    }

    @Test("the gate is the entrypoint, as root with only the gate's capabilities, slot rslave, gate read-only")
    func shape() throws {
        let config = try Self.config()
        #expect(config.user == "0:0")
        #expect(config.entrypoint == [GateMount.target])
        #expect(config.cmd == nil)
        #expect(config.labels?[LaunchSpec.poolSlotLabel] == "0123abcd")
        #expect(config.labels?[SandcastleLabels.session] == nil)
        #expect(config.networkDisabled == true)
        let host = try #require(config.hostConfig)
        #expect(host.capDrop == ["ALL"])
        #expect(Set(host.capAdd ?? []) == Set(GateMount.capabilities + (try Shipped.profile("default")).capabilities))
        #expect(host.securityOpt?.contains("no-new-privileges:true") == true)
        #expect(host.readonlyRootfs == true)
        #expect(host.tmpfs?["/tmp"]?.contains("uid=") == false)
        let mounts = try #require(host.mounts)
        #expect(mounts.count == 2)
        #expect(mounts[0].source == Self.slotDirectory && mounts[0].target == "/workspace")
        #expect(mounts[0].bindOptions?.propagation == .rslave)
        #expect(mounts[1].source == Self.gate.hostPath && mounts[1].target == GateMount.target && mounts[1].readOnly == true)
    }

    @Test("a slot bound rprivate is refused")
    func slotMustBeRslave() throws {
        #expect(throws: SessionRequestRejected.self) {
            try LaunchSpec.poolContainerConfig(
                profile: try Shipped.profile("default"), image: "sandcastle/testbox:latest",
                slot: WorkspaceMount(hostPath: Self.slotDirectory), gate: Self.gate, slotID: "x")
        }
    }

    @Test("the read-back passes as built, and names every tampered field")
    func readBack() throws {
        #expect(try fields { _ in } == [])
        #expect(try fields { $0.config.user = "1000:1000" }.contains("Config.User"))
        #expect(try fields { $0.config.entrypoint = ["/bin/sh"] }.contains("Config.Entrypoint"))
        #expect(try fields { $0.hostConfig.capAdd?.append("CAP_SYS_ADMIN") }.contains("HostConfig.CapAdd"))
        #expect(try fields { $0.mounts[1].rw = true }.contains("Mounts[gate].RW"))
        #expect(try fields { $0.mounts[1].source = "/bin/sh" }.contains("Mounts[gate].Source"))
        #expect(try fields { $0.hostConfig.mounts?[1].readOnly = false }.contains("HostConfig.Mounts[gate].ReadOnly"))
        #expect(try fields { $0.mounts[0].propagation = "rprivate" }.contains("Mounts[0].Propagation"))
        #expect(try fields { $0.mounts.removeLast() }.contains("Mounts[gate]"))
    }

    @Test("a pool container never passes the ordinary (session) read-back: it runs as root")
    func notASession() throws {
        let found = ReadBack.verify(
            inspected: try Self.inspected(), expected: try Self.config(), resolvedWorkspace: Self.slotDirectory)
        #expect(found.map(\.field).contains("Config.User"))
    }
}
