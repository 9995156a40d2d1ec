import DockerEngine
import EgressPolicy
import Foundation
import SandcastleTestSupport
import Testing

@testable import SandboxPolicy

@Suite("Egress in profiles and requests")
struct EgressProfileTests {
    @Test func noEgressIsTheDefault() throws {
        #expect(try Shipped.profile("default").egress.isEmpty)
    }

    @Test func claudeCodeAllowsTheAnthropicAPIAndNothingElse() throws {
        let profile = try Shipped.profile("claude-code")
        #expect(profile.egress.entries == ["api.anthropic.com:443"])
        #expect(profile.network == .none)
    }

    @Test func aBadEntryIsRefusedWithFileLineAndReason() throws {
        let text = try defaultProfileText() + "\n[egress]\nallow = [\n  \"ok.example:443\",\n  \"*bad.example:443\",\n]\n"
        let directory = try policyDirectory(["web.toml": text])
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        let problem = try #require(error.problems.first { $0.field == "egress.allow[1]" })
        let expectedLine = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("*bad") }! + 1
        #expect(problem.line == expectedLine)
        #expect(problem.message.contains("wildcard"))
        #expect(problem.description.contains("web.toml:\(expectedLine): egress.allow[1] = *bad.example:443: "), "\(problem)")
    }

    @Test func aRequestNarrowsButNeverWidens() throws {
        let profile = try withEgress(["*.example.com:443"])
        var request = SessionLaunchRequest(image: "sandcastle/testbox:latest", profile: "web", workspace: "w", command: ["sh"])
        #expect(try profile.approve(request).egress.entries == ["*.example.com:443"])
        request.egress = ["api.example.com:443"]
        #expect(try profile.approve(request).egress.entries == ["api.example.com:443"])
        request.egress = []
        #expect(try profile.approve(request).egress.isEmpty)
        request.egress = ["evil.test:443"]
        let refused = try #require(expectError(SessionRequestRejected.self, { _ = try profile.approve(request) }, sourceLocation: #_sourceLocation))
        #expect(refused.problems.map(\.field) == ["egress[0]"])
        #expect(refused.reasons == [.egressNotAllowed])
    }

    @Test func aRequestCannotAddEgressToAProfileWithout() throws {
        var request = SessionLaunchRequest(image: "sandcastle/testbox:latest", profile: "default", workspace: "w", command: ["sh"])
        request.egress = ["example.com:443"]
        let refused = try #require(expectError(SessionRequestRejected.self, { _ = try Shipped.profile("default").approve(request) }, sourceLocation: #_sourceLocation))
        #expect(refused.reasons == [.egressNotAllowed])
    }

    @Test func theEgressFieldDecodesFromJSON() throws {
        let request = try SessionLaunchRequest.decode(
            strictJSON: Data(#"{"image":"i","profile":"p","workspace":"w","egress":["a.example:443"]}"#.utf8))
        #expect(request.egress == ["a.example:443"])
    }

    @Test func theContainerGetsTheBindsTheForwarderAndTheProxyVariables() throws {
        let profile = try withEgress(["api.example.com:443"])
        let request = SessionLaunchRequest(
            image: "sandcastle/testbox:latest", profile: "web", workspace: "w", command: ["sleep", "1"],
            env: ["https_proxy=http://mine:1"])
        let egress = EgressMount(socketDirectory: "/run/sandcastle/egress/s1", forwarder: "/usr/libexec/fwd")
        let config = try LaunchSpec.containerConfig(
            for: profile.approve(request), workspace: WorkspaceMount(hostPath: "/srv/ws/w"),
            user: WorkspaceUser(uid: profile.uids.first), sessionID: "s1", egress: egress)
        #expect(config.entrypoint == [EgressMount.forwarderTarget])
        #expect(config.cmd == ["sleep", "1"])
        #expect(config.hostConfig?.networkMode == "none")
        let mounts = config.hostConfig?.mounts ?? []
        #expect(mounts.map(\.target) == [LaunchSpec.workspaceTarget, EgressMount.directoryTarget, EgressMount.forwarderTarget])
        #expect(mounts.dropFirst().allSatisfy { $0.readOnly == true })
        let env = config.env ?? []
        #expect(env.contains("HTTPS_PROXY=http://127.0.0.1:3128"))
        #expect(env.contains("NO_PROXY=localhost,127.0.0.1,::1"))
        #expect(env.contains("https_proxy=http://mine:1") && !env.contains("https_proxy=http://127.0.0.1:3128"))
        #expect(throws: SessionRequestRejected.self, "egress without a proxy") {
            _ = try LaunchSpec.containerConfig(
                for: profile.approve(request), workspace: WorkspaceMount(hostPath: "/srv/ws/w"),
                user: WorkspaceUser(uid: profile.uids.first), sessionID: "s1")
        }
    }

    @Test func aSessionWithEgressMustNameItsCommand() throws {
        let profile = try withEgress(["api.example.com:443"])
        let request = SessionLaunchRequest(image: "sandcastle/testbox:latest", profile: "web", workspace: "w")
        let refused = try #require(expectError(SessionRequestRejected.self, { _ = try profile.approve(request) }, sourceLocation: #_sourceLocation))
        #expect(refused.problems.map(\.field) == ["command"])
    }

    private func withEgress(_ allow: [String]) throws -> SandboxProfile {
        let text = try defaultProfileText() + "\n[egress]\nallow = [\(allow.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
        let directory = try policyDirectory(["web.toml": text])
        return try #require(try PolicySet.load(directory: directory.path).profile(named: "web"))
    }
}
