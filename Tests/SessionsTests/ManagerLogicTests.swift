import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import SandcastleTestSupport
import SessionStore
import Sessions
import Synchronization
import Testing
import Workspaces

/// The session manager's logic on the in-memory engine: no Docker, no root. The same behaviour
/// against the real engine is in SessionsIntegrationTests.
@Suite("Session manager logic, on the in-memory engine")
struct ManagerLogicTests {
    struct Harness {
        let engine: InMemoryEngine
        let store: SessionStore
        let manager: SessionManager
        let directory: TemporaryDirectory
        let instance = "logic-\(UUID().uuidString.prefix(8).lowercased())"

        init(clock: any SessionClock = SystemSessionClock()) throws {
            engine = InMemoryEngine()
            directory = try TemporaryDirectory()
            try directory.makeDirectory("workspaces")
            store = try SessionStore(.init(directory: directory.path + "/state", daemonInstance: instance))
            manager = SessionManager(
                configuration: .init(daemonInstance: instance, stopGrace: .seconds(1)),
                engine: LimitedEngine(engine, limit: 4), store: store,
                policies: Swappable(try PolicySet.load(directory: ManagerFixture.policiesDirectory)),
                workspaces: try WorkspaceResolver(root: directory.path + "/workspaces"), clock: clock,
                logger: Logger(label: "test.logic"))
        }

        func request(_ workspace: String, image: String = "sandcastle/testbox:latest") -> SessionLaunchRequest {
            SessionLaunchRequest(image: image, profile: "default", workspace: workspace, command: ["sleep", "3600"])
        }
    }

    @Test func createIsIdempotentAndSaysWhetherItCreated() async throws {
        let harness = try Harness()
        let first = try await harness.manager.create(id: "s-1", request: harness.request("w"), owner: "alice")
        #expect(first.created)
        #expect(first.session.state == .running)
        let again = try await harness.manager.create(id: "s-1", request: harness.request("w"), owner: "alice")
        #expect(!again.created)
        #expect(again.session.containerID == first.session.containerID)
        // The read-back passed: the container was created, inspected and started, once.
        #expect(harness.engine.calls.filter { $0.hasPrefix("create") } == ["create sandcastle-s-1"])
        #expect(harness.engine.calls.filter { $0.hasPrefix("start") }.count == 1)

        let conflict = await #expect(throws: SessionManagerError.self) {
            try await harness.manager.create(id: "s-1", request: harness.request("other"), owner: "alice")
        }
        #expect(conflict?.code == .conflict)
    }

    @Test func aRejectedRequestWritesNothingAndStartsNothing() async throws {
        let harness = try Harness()
        let rejected = await #expect(throws: SessionManagerError.self) {
            try await harness.manager.create(id: "bad", request: harness.request("w", image: "debian:12"), owner: "a")
        }
        #expect(rejected?.code == .rejected)
        #expect(try await harness.store.session(id: "bad") == nil)
        #expect(harness.engine.calls.isEmpty)
    }

    @Test func theSameRequestSentAtOnceGetsTheLaunchedSession() async throws {
        let harness = try Harness()
        let manager = harness.manager
        for round in 0..<20 {
            let request = harness.request("w\(round)")
            let sessions = try await withThrowingTaskGroup(of: Session.self) { group in
                for _ in 0..<6 {
                    group.addTask { try await manager.create(id: "same-\(round)", request: request, owner: "a").session }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for session in sessions {
                #expect(session.state == .running && session.containerID != nil, "round \(round): \(session)")
            }
        }
        #expect(harness.engine.containerIDs.count == 20)
    }

    @Test func aContainerTheEngineCreatedDifferentlyIsNeverStarted() async throws {
        let harness = try Harness()
        harness.engine.tamper { config in config.hostConfig?.privileged = true }
        let failed = await #expect(throws: SessionManagerError.self) {
            try await harness.manager.create(id: "s-t", request: harness.request("w"), owner: "a")
        }
        #expect(failed?.code == .launchFailed)
        #expect(failed?.message.contains("differently from the policy") == true, "\(String(describing: failed))")
        #expect(!harness.engine.calls.contains { $0.hasPrefix("start") }, "\(harness.engine.calls)")
        #expect(harness.engine.containerIDs.isEmpty, "the tampered container is removed")
        let recorded = try #require(try await harness.store.session(id: "s-t"))
        #expect(recorded.state == .failed)
    }

    @Test func stopRecordsTheExitAndRemoveLeavesNoContainer() async throws {
        let harness = try Harness()
        _ = try await harness.manager.create(id: "s-2", request: harness.request("w"), owner: "a")
        let stopped = try await harness.manager.stop("s-2")
        #expect(stopped.state == .exited)
        #expect(stopped.exitReason == .stopped)
        #expect(stopped.exitCode == 143)
        try await harness.manager.remove("s-2")
        #expect(try await harness.manager.session("s-2").state == .removed)
        #expect(harness.engine.containerIDs.isEmpty)
    }

    @Test func reconcileAdoptsRunningEndsTheDeadAndRemovesOrphans() async throws {
        let harness = try Harness()
        let kept = try await harness.manager.create(id: "keep", request: harness.request("a"), owner: "a").session
        let dead = try await harness.manager.create(id: "dead", request: harness.request("b"), owner: "a").session
        harness.engine.exit(try #require(dead.containerID), code: 7)
        // A container with this daemon's labels that no session wants.
        var orphan = ContainerConfig(image: "sandcastle/testbox:latest")
        orphan.labels = [SandcastleLabels.managed: "true", SandcastleLabels.instance: harness.instance]
        let ghost = try await harness.engine.createContainer(name: "ghost", config: orphan)

        let garbage = try await harness.manager.collectGarbage(dryRun: true)
        #expect(garbage.orphans.map(\.id) == [ghost.id])
        #expect(garbage.removed.isEmpty)

        let report = try await harness.manager.reconcile()
        #expect(report.adopted == ["keep"])
        #expect(report.exited == ["dead"])
        #expect(report.removedOrphans == [ghost.id])
        let ended = try await harness.manager.session("dead")
        #expect(ended.exitCode == 7)
        #expect(ended.exitReason == .exited)
        #expect(Set(harness.engine.containerIDs) == Set([kept.containerID, dead.containerID].compactMap { $0 }))
    }

    @Test func aResyncKeepsASessionLaunchedAfterItsListing() async throws {
        let harness = try Harness()
        let manager = harness.manager
        let request = harness.request("w")
        // The launch runs, start to end, while the engine's listing is on its way back.
        harness.engine.afterNextList {
            _ = try? await manager.create(id: "late", request: request, owner: "a")
        }
        let report = try await manager.reconcile(startup: false)
        let late = try await manager.session("late")
        #expect(late.state == .running, "\(late)")
        #expect(harness.engine.containerIDs == [try #require(late.containerID)])
        #expect(report.exited.isEmpty && report.rolledBack.isEmpty, "\(report)")
    }

    @Test func idleSessionsAreReapedUnlessWatched() async throws {
        let clock = ManualClock()
        let harness = try Harness(clock: clock)
        var idle = harness.request("i")
        idle.idleTimeoutSeconds = 300
        var watched = harness.request("w")
        watched.idleTimeoutSeconds = 300
        _ = try await harness.manager.create(id: "idle", request: idle, owner: "a")
        _ = try await harness.manager.create(id: "watched", request: watched, owner: "a")
        harness.manager.activity.viewerAttached("watched")
        clock.advance(by: 200)
        harness.manager.noteActivity("idle")
        #expect(await harness.manager.reapOnce().isEmpty)
        clock.advance(by: 301)
        #expect(await harness.manager.reapOnce() == ["idle"])
        #expect(try await harness.manager.session("idle").exitReason == .idle)
        #expect(try await harness.manager.session("watched").state == .running)
    }
}

/// The warm pool's bookkeeping on the in-memory engine: targets, validation, and the cold
/// fallback when it has nothing ready. (Claims themselves mount, so they run in Docker-in-Docker:
/// WarmPoolIntegrationTests.)
@Suite("Warm pool bookkeeping, on the in-memory engine")
struct PoolLogicTests {
    final class CountingMetrics: PoolMetrics {
        let claims = Mutex<[String]>([])
        func claimed(profile: String, warm: Bool) { claims.withLock { $0.append("\(profile) \(warm ? "warm" : "cold")") } }
        func slotsChanged(profile: String, ready: Int, target: Int) {}
    }

    struct RefusingMounter: SlotMounter {
        func preparePoolRoot(_ root: String) throws(PoolError) { throw PoolError(.mount, "no mounts in logic tests") }
        func mountWorkspace(_ workspace: ResolvedWorkspace, onto slotDirectory: String) throws(PoolError) {
            throw PoolError(.mount, "no mounts in logic tests")
        }
        func unmountAll(_ slotDirectory: String) throws(PoolError) {}
        func isMountPoint(_ path: String) -> Bool { false }
    }

    @Test func targetsAreCheckedAndAnEmptyPoolFallsBackToACold() async throws {
        let directory = try TemporaryDirectory()
        let engine = LimitedEngine(InMemoryEngine(), limit: 4)
        let store = try SessionStore(.init(directory: directory.path + "/state", daemonInstance: "pool-logic"))
        let policies = Swappable(try PolicySet.load(directory: ManagerFixture.policiesDirectory))
        let metrics = CountingMetrics()
        let pool = WarmPool(
            configuration: .init(
                root: directory.path + "/pool", gate: GateMount(hostPath: directory.path + "/gate"),
                daemonInstance: "pool-logic", canMount: false),
            engine: engine, store: store, mounter: RefusingMounter(), policies: policies, metrics: metrics)
        try directory.makeDirectory("workspaces")
        let manager = SessionManager(
            configuration: .init(daemonInstance: "pool-logic"), engine: engine, store: store, policies: policies,
            workspaces: try WorkspaceResolver(root: directory.path + "/workspaces"), pool: pool)

        // A daemon that gave up mounting refuses a pool; size 0 is fine; unknown profiles are named.
        let refused = await #expect(throws: PoolError.self) {
            try await pool.setTarget(PoolTarget(profile: "default", image: "sandcastle/testbox:latest", size: 2, refillPerMinute: 60))
        }
        #expect(refused?.message.contains("privileges to mount") == true)
        let unknown = await #expect(throws: PoolError.self) {
            try await pool.setTarget(PoolTarget(profile: "nope", image: "sandcastle/testbox:latest", size: 0, refillPerMinute: 60))
        }
        #expect(unknown?.message.contains("no profile nope") == true)
        let status = try await pool.setTarget(PoolTarget(profile: "default", image: "sandcastle/testbox:latest", size: 0, refillPerMinute: 60))
        #expect(status.ready == 0 && status.size == 0)
        #expect(try await store.poolTargets().map(\.profile) == ["default"])
        // A profile with egress may have a pool too (its sessions name their command at claim time).
        let egress = try await pool.setTarget(
            PoolTarget(profile: "claude-code", image: "sandcastle/claude-code:1", size: 0, refillPerMinute: 60))
        #expect(egress.profile == "claude-code")

        // Nothing ready: the session launches cold, and the metric says so.
        let request = SessionLaunchRequest(image: "sandcastle/testbox:latest", profile: "default", workspace: "w", command: ["sh"])
        let (session, _) = try await manager.create(id: "cold-1", request: request, owner: "a")
        #expect(session.state == .running)
        #expect(session.poolSlot == nil)
        #expect(metrics.claims.withLock { $0 } == ["default cold"])
        // The same request again returns that session: nothing launched, nothing counted.
        let (again, created) = try await manager.create(id: "cold-1", request: request, owner: "a")
        #expect(!created && again.id == "cold-1")
        #expect(metrics.claims.withLock { $0 } == ["default cold"])
    }
}
