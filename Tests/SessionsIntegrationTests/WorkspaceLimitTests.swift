import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import Workspaces
import SessionStore
import Sessions
import Synchronization
import SandcastleTestSupport
import Testing

/// A profile with `workspace_size`: the manager asks the limiter before launching and releases the
/// limit before deleting the workspace. The real limiter mounts an ext4 image, which the rules here
/// allow only inside a container (see WorkspacesIntegrationTests); this one records the calls.
@Suite("Workspace size limits in the session lifecycle", .requiresEngine)
struct WorkspaceLimitTests {
    final class RecordingLimiter: WorkspaceSizeLimiter {
        let calls = Mutex<[String]>([])

        func limit(_ workspace: ResolvedWorkspace, toBytes bytes: Int64, use: WorkspaceMount.Use)
            async throws(WorkspaceError) -> WorkspaceMount
        {
            calls.withLock { $0.append("limit \(workspace.name) \(bytes)") }
            return WorkspaceMount(hostPath: workspace.path, use: use, enforcedSizeLimitBytes: bytes)
        }

        func release(workspace name: String, deletingImage: Bool) async throws(WorkspaceError) {
            calls.withLock { $0.append("release \(name) \(deletingImage)") }
        }
    }

    /// The shipped policies plus `quota`: `default` with a 64 MiB workspace.
    static func policiesWithQuota() throws -> String {
        let directory = "/tmp/sandcastle-policies-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.copyItem(atPath: ManagerFixture.policiesDirectory, toPath: directory)
        var profile = try String(contentsOfFile: directory + "/default.toml", encoding: .utf8)
        profile = profile.replacingOccurrences(of: "# workspace_size = \"2GiB\"", with: "workspace_size = \"64MiB\"")
        try profile.write(toFile: directory + "/quota.toml", atomically: true, encoding: .utf8)
        return directory
    }

    @Test func limitedWorkspaceIsLimitedBeforeLaunchAndReleasedBeforeDeletion() async throws {
        let policiesDirectory = try Self.policiesWithQuota()
        defer { try? FileManager.default.removeItem(atPath: policiesDirectory) }
        let policies = try PolicySet.load(directory: policiesDirectory)
        #expect(policies.profile(named: "quota")?.workspaceSizeBytes == 64 << 20)

        try await ManagerFixture.with { fixture in
            let limiter = RecordingLimiter()
            let manager = SessionManager(
                configuration: .init(daemonInstance: fixture.instance), engine: fixture.client, store: fixture.store,
                policies: Swappable(policies), workspaces: try WorkspaceResolver(root: fixture.directory + "/workspaces"),
                sizeLimiter: limiter, logger: Logger(label: "test.quota"))
            let session = try await manager.create(id: "quota-1", request: fixture.request("limited", profile: "quota"), owner: "a").session
            #expect(session.state == .running)
            #expect(limiter.calls.withLock { $0 } == ["limit limited \(64 << 20)"])
            try await manager.remove("quota-1", deleteWorkspace: true)
            #expect(limiter.calls.withLock { $0 } == ["limit limited \(64 << 20)", "release limited true"])

            // Without a limiter the profile is refused, and nothing is launched.
            let unlimited = SessionManager(
                configuration: .init(daemonInstance: fixture.instance), engine: fixture.client, store: fixture.store,
                policies: Swappable(policies), workspaces: try WorkspaceResolver(root: fixture.directory + "/workspaces"),
                logger: Logger(label: "test.quota"))
            let refused = await #expect(throws: SessionManagerError.self) {
                try await unlimited.create(id: "quota-2", request: fixture.request("limited-2", profile: "quota"), owner: "a")
            }
            #expect(refused?.code == .rejected)
            #expect(refused?.message.contains("workspace_size") == true)
            #expect(try await fixture.containers().isEmpty)
            #expect(try await fixture.store.session(id: "quota-2") == nil)
        }
    }
}
