import Foundation
import Logging
import SandboxPolicy
import SandcastleTestSupport
import SessionStore
import Sessions
import Synchronization
import Testing
import Workspaces

/// The workspace monitor and the manager's workspace limits, with a project-quota-like limiter
/// whose usage the test sets: no file system with quotas needed.
@Suite("Workspace limits in the manager, and the monitor")
struct WorkspaceMonitorTests {
    final class FakeProjectLimiter: WorkspaceSizeLimiter {
        let state = Mutex<(applied: [String: WorkspaceLimits], calls: Int, usage: [String: WorkspaceUsage])>(([:], 0, [:]))
        var backend: WorkspaceQuotaBackend { .project }
        var mountsOnWorkspace: Bool { false }

        func limit(_ workspace: ResolvedWorkspace, toBytes bytes: Int64, use: WorkspaceMount.Use) async throws(WorkspaceError)
            -> WorkspaceMount
        {
            WorkspaceMount(hostPath: workspace.path, use: use, enforcedSizeLimitBytes: bytes)
        }

        func limit(_ workspace: ResolvedWorkspace, to limits: WorkspaceLimits, use: WorkspaceMount.Use)
            async throws(WorkspaceError) -> WorkspaceMount?
        {
            state.withLock {
                $0.applied[workspace.name] = limits
                $0.calls += 1
            }
            return WorkspaceMount(hostPath: workspace.path, use: use, enforcedSizeLimitBytes: limits.bytes)
        }

        func release(workspace name: String, deletingImage: Bool) async throws(WorkspaceError) {}

        func usage(of name: String) async -> WorkspaceUsage? { state.withLock { $0.usage[name] } }
    }

    final class Gauges: WorkspaceMetrics {
        let full = Mutex<[String: Int]>([:])
        func workspacesSampled(profile: String, usedBytes: Int64, limitBytes: Int64, usedInodes: Int64, limitInodes: Int64, full: Int) {
            self.full.withLock { $0[profile] = full }
        }
    }

    @Test("every workspace is accounted at launch; full is reported once per crossing; a policy change re-applies limits")
    func monitor() async throws {
        let directory = try TemporaryDirectory()
        try directory.makeDirectory("workspaces")
        let store = try SessionStore(.init(directory: directory.path + "/state", daemonInstance: "monitor-test"))
        let limiter = FakeProjectLimiter()
        let policies = Swappable(try PolicySet.load(directory: ManagerFixture.policiesDirectory))
        let manager = SessionManager(
            configuration: .init(daemonInstance: "monitor-test", stopGrace: .seconds(1)),
            engine: LimitedEngine(InMemoryEngine(), limit: 4), store: store, policies: policies,
            workspaces: try WorkspaceResolver(root: directory.path + "/workspaces"), sizeLimiter: limiter,
            logger: Logger(label: "test.monitor"))
        _ = try await manager.create(
            id: "m-1", request: SessionLaunchRequest(image: "sandcastle/testbox:latest", profile: "default", workspace: "w", command: ["sleep", "60"]),
            owner: "t")
        // The shipped default profile sets no limit: accounted, unlimited.
        #expect(limiter.state.withLock { $0.applied["w"] } == WorkspaceLimits())
        #expect(manager.workspaceBackend == .project)

        let gauges = Gauges()
        let monitor = WorkspaceMonitor(manager: manager, metrics: gauges)
        #expect(await monitor.sampleOnce() == [])
        let full = WorkspaceUsage(usedBytes: 1 << 20, usedInodes: 5, limits: WorkspaceLimits(bytes: 1 << 20))
        limiter.state.withLock { $0.usage["w"] = full }
        #expect(await monitor.sampleOnce() == ["w"])
        #expect(await monitor.sampleOnce() == [], "reported once while it stays full")
        #expect(gauges.full.withLock { $0["default"] } == 1)
        #expect(gauges.full.withLock { $0["small"] } == 0)
        let events = try await store.events(after: 0).filter { $0.type == .workspaceFull }
        #expect(events.count == 1 && events.first?.sessionID == "m-1" && events.first?.payload.contains(#""workspace":"w""#) == true)
        limiter.state.withLock { $0.usage["w"]?.usedBytes = 1024 }
        #expect(await monitor.sampleOnce() == [])
        limiter.state.withLock { $0.usage["w"] = full }
        #expect(await monitor.sampleOnce() == ["w"], "full again after dropping below")

        let report = try await manager.workspaceReport("w")
        #expect(report.sessions == ["m-1"] && report.profiles == ["default"] && report.usage == full)

        // A reload (here: a policy set without `debug`) re-applies the limits of running sessions.
        let before = limiter.state.withLock { $0.calls }
        policies.replace(PolicySet(directory: policies.current.directory, profiles: policies.current.profiles.filter { $0.key != "debug" }))
        _ = await monitor.sampleOnce()
        #expect(limiter.state.withLock { $0.calls } == before + 1)
        try store.close()
    }
}
