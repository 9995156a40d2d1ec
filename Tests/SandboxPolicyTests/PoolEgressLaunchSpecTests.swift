import DockerEngine
import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Warm-pool container spec with egress binds, and its read-back")
struct PoolEgressLaunchSpecTests {
    static let slotDirectory = PoolLaunchSpecTests.slotDirectory
    static let gate = PoolLaunchSpecTests.gate
    static let egress = EgressMount(socketDirectory: "/run/sandcastle/egress/.pool/0123abcd", forwarder: "/usr/libexec/fwd")

    static func config() throws -> ContainerConfig {
        try LaunchSpec.poolContainerConfig(
            profile: try Shipped.profile("claude-code"), image: "sandcastle/claude-code:1",
            slot: WorkspaceMount(hostPath: slotDirectory, use: .poolSlot), gate: gate, slotID: "0123abcd", egress: egress)
    }

    static func inspected() throws -> InspectedContainer {
        try PoolLaunchSpecTests.engineView(
            of: try config(),
            mounts: [(egress.socketDirectory, EgressMount.directoryTarget), (egress.forwarder, EgressMount.forwarderTarget)].map {
                InspectedMount(type: "bind", source: $0.0, destination: $0.1, rw: false, propagation: "rprivate")
            })
    }

    func violations(_ change: (inout InspectedContainer) -> Void = { _ in }) throws -> [String] {
        var inspected = try Self.inspected()
        change(&inspected)
        return ReadBack.verify(
            inspected: inspected, expected: try Self.config(), resolvedWorkspace: Self.slotDirectory, gate: Self.gate,
            egress: Self.egress
        ).map(\.field)
    }

    @Test func theGateStaysTheEntrypointAndTheEgressBindsAreReadOnly() throws {
        let config = try Self.config()
        #expect(config.entrypoint == [GateMount.target])
        #expect(config.user == "0:0")
        // The variables come with the claim, not with the container.
        #expect(!(config.env ?? []).contains { $0.hasPrefix("HTTPS_PROXY=") })
        let mounts = try #require(config.hostConfig?.mounts)
        #expect(
            mounts.map(\.target) == [LaunchSpec.workspaceTarget, GateMount.target, EgressMount.directoryTarget, EgressMount.forwarderTarget])
        #expect(mounts.dropFirst().allSatisfy { $0.readOnly == true })
        #expect(try violations().isEmpty)
    }

    @Test func theReadBackRefusesAWritableOrMissingEgressBind() throws {
        #expect(try violations { $0.mounts.removeAll { $0.destination == EgressMount.directoryTarget } }.contains("Mounts[egress]"))
        #expect(
            try violations {
                $0.hostConfig.mounts = $0.hostConfig.mounts?.map { mount in
                    var mount = mount
                    if mount.target == EgressMount.forwarderTarget { mount.readOnly = false }
                    return mount
                }
            }.contains("HostConfig.Mounts[egress-forward].ReadOnly"))
        #expect(try violations { $0.config.entrypoint = [EgressMount.forwarderTarget] }.contains("Config.Entrypoint"))
    }

    @Test func theClaimRunsTheCommandBehindTheForwarderWithTheVariables() {
        #expect(EgressMount.forwarded(["claude"]) == [EgressMount.forwarderTarget, "claude"])
        let env = EgressMount.environment(merging: ["HOME=/workspace", "NO_PROXY=internal"])
        #expect(env.contains("HTTPS_PROXY=http://127.0.0.1:3128") && env.contains("https_proxy=http://127.0.0.1:3128"))
        #expect(env.contains("NO_PROXY=internal") && !env.contains("NO_PROXY=localhost,127.0.0.1,::1"))
        #expect(env.contains("no_proxy=localhost,127.0.0.1,::1"))
    }
}
