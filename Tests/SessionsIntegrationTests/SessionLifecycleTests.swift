import DockerEngine
import Foundation
import SandboxPolicy
import SessionStore
import Sessions
import SandcastleTestSupport
import Testing

@Suite("Session lifecycle against the real engine", .requiresEngine)
struct SessionLifecycleTests {
    @Test func createStopStartRemove() async throws {
        try await ManagerFixture.with { fixture in
            let manager = fixture.manager
            let session = try await manager.create(id: "life-1", request: fixture.request("ws-life"), owner: "alice").session
            #expect(session.state == .running)
            #expect(session.containerName == "sandcastle-life-1")
            let containerID = try #require(session.containerID)
            let inspect = try await fixture.client.inspectContainer(containerID)
            #expect(inspect.state.running)
            #expect(inspect.config?.labels?[SandcastleLabels.session] == "life-1")
            #expect(inspect.config?.labels?[SandcastleLabels.instance] == fixture.instance)
            #expect(inspect.config?.user == "\(session.workspaceUID):\(session.workspaceUID)")
            #expect(inspect.mounts?.first?.source == fixture.directory + "/workspaces/ws-life")

            // The workspace is owned by the workspace's uid.
            let attributes = try FileManager.default.attributesOfItem(atPath: fixture.directory + "/workspaces/ws-life")
            #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == session.workspaceUID)

            let stopped = try await manager.stop("life-1")
            #expect(stopped.state == .exited)
            #expect(stopped.exitReason == .stopped)
            #expect(try await fixture.client.inspectContainer(containerID).state.running == false)

            let restarted = try await manager.start("life-1")
            #expect(restarted.state == .running)
            #expect(try await fixture.client.inspectContainer(containerID).state.running)

            try await manager.remove("life-1")
            #expect(try await manager.session("life-1").state == .removed)
            let gone = await #expect(throws: DockerError.self) { try await fixture.client.inspectContainer(containerID) }
            #expect(gone?.code == .notFound)
            // Kept unless asked.
            #expect(FileManager.default.fileExists(atPath: fixture.directory + "/workspaces/ws-life"))

            let types = try await fixture.store.events(forSession: "life-1").map(\.type.rawValue)
            #expect(types == [
                "session.created", "session.started", "session.stopped", "session.exited", "session.started",
                "session.removed",
            ])
        }
    }

    @Test func workspaceKeepsItsUIDAndCanBeDeleted() async throws {
        try await ManagerFixture.with { fixture in
            let manager = fixture.manager
            let first = try await manager.create(id: "ws-a", request: fixture.request("shared"), owner: "alice").session
            let second = try await manager.create(id: "ws-b", request: fixture.request("shared"), owner: "alice").session
            let other = try await manager.create(id: "ws-c", request: fixture.request("other"), owner: "alice").session
            #expect(first.workspaceUID == second.workspaceUID)
            #expect(first.workspaceUID != other.workspaceUID)

            // Still used by ws-b: refused.
            let busy = await #expect(throws: SessionManagerError.self) { try await manager.remove("ws-a", deleteWorkspace: true) }
            #expect(busy?.code == .conflict)
            try await manager.remove("ws-b", deleteWorkspace: true)
            #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/workspaces/shared"))
        }
    }

    @Test func exitCodeIsRecordedFromEngineEvents() async throws {
        try await ManagerFixture.with { fixture in
            let manager = fixture.manager
            let follower = Task { await manager.followEngineEvents() }
            defer { follower.cancel() }
            _ = try await manager.create(id: "exit-3", request: fixture.request("ws-exit", command: ["sh", "-c", "sleep 1; exit 3"]), owner: "a").session
            try await eventually("the exit") { try await manager.session("exit-3").state == .exited }
            let session = try await manager.session("exit-3")
            #expect(session.exitCode == 3)
            #expect(session.exitReason == .exited)
        }
    }

    @Test func oomIsRecordedAsOOM() async throws {
        try await ManagerFixture.with { fixture in
            let manager = fixture.manager
            let follower = Task { await manager.followEngineEvents() }
            defer { follower.cancel() }
            // A child is OOM-killed while the shell goes on to exit 0: the reason must still be oom.
            let command = ["sh", "-c", "memhog 2048 >/dev/null 2>&1; sleep 1; exit 0"]
            _ = try await manager.create(id: "oom-1", request: fixture.request("ws-oom", command: command), owner: "a").session
            try await eventually("the exit", timeout: .seconds(60)) { try await manager.session("oom-1").state == .exited }
            let session = try await manager.session("oom-1")
            #expect(session.exitReason == .oom, "\(session)")
            let types = try await fixture.store.events(forSession: "oom-1").map(\.type.rawValue)
            #expect(types.contains("session.oom"))
        }
    }

    @Test func idempotentCreateAndConflict() async throws {
        try await ManagerFixture.with { fixture in
            let manager = fixture.manager
            let request = fixture.request("ws-idem")
            async let first = manager.create(id: "idem-1", request: request, owner: "alice").session
            async let second = manager.create(id: "idem-1", request: request, owner: "alice").session
            let (a, b) = try await (first, second)
            #expect(a.id == b.id)
            #expect(a.containerID == b.containerID)
            #expect(try await fixture.containers().count == 1)

            let again = try await manager.create(id: "idem-1", request: request, owner: "alice").session
            #expect(again.containerID == a.containerID)

            let conflict = await #expect(throws: SessionManagerError.self) {
                try await manager.create(id: "idem-1", request: fixture.request("ws-idem", command: ["sh"]), owner: "alice").session
            }
            #expect(conflict?.code == .conflict)
            #expect(try await fixture.containers().count == 1)
        }
    }

    @Test func fiftyConcurrentCreatesMakeFiftyContainers() async throws {
        try await ManagerFixture.with(engineConcurrency: 8) { fixture in
            let manager = fixture.manager
            let sessions = try await withThrowingTaskGroup(of: Session.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await manager.create(id: "many-\(index)", request: fixture.request("many-\(index)"), owner: "load").session
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(sessions.count == 50)
            #expect(sessions.allSatisfy { $0.state == .running })
            let containers = try await fixture.containers()
            #expect(containers.count == 50)
            #expect(Set(containers.compactMap { $0.labels?[SandcastleLabels.session] }).count == 50)
            #expect(Set(sessions.map(\.workspaceUID)).count == 50)
        }
    }

    @Test func rejectedRequestsCreateNothing() async throws {
        try await ManagerFixture.with { fixture in
            let manager = fixture.manager
            var bad = fixture.request("ws-bad")
            bad.image = "debian:12"
            let rejected = await #expect(throws: SessionManagerError.self) { try await manager.create(id: "bad-1", request: bad, owner: "a").session }
            #expect(rejected?.code == .rejected)
            #expect(rejected?.message.contains("debian:12") == true)
            #expect(try await fixture.store.session(id: "bad-1") == nil)

            // A missing image passes the policy but the engine refuses it: the session fails and
            // leaves no container.
            var missing = fixture.request("ws-missing")
            missing.image = "sandcastle/no-such-image:1"
            let failed = await #expect(throws: SessionManagerError.self) { try await manager.create(id: "missing-1", request: missing, owner: "a").session }
            #expect(failed?.code == .launchFailed)
            let session = try await manager.session("missing-1")
            #expect(session.state == .failed)
            #expect(session.error?.contains("no-such-image") == true)
            #expect(try await fixture.containers().isEmpty)
        }
    }

    @Test func ttlAndIdleReaping() async throws {
        let clock = ManualClock()
        try await ManagerFixture.with(clock: clock) { fixture in
            let manager = fixture.manager
            _ = try await manager.create(id: "ttl-1", request: fixture.request("ws-ttl", ttl: 600), owner: "a").session
            _ = try await manager.create(id: "idle-1", request: fixture.request("ws-idle", idle: 300), owner: "a").session
            _ = try await manager.create(id: "watched-1", request: fixture.request("ws-watched", idle: 300), owner: "a").session
            manager.activity.viewerAttached("watched-1")

            clock.advance(by: 200)
            manager.noteActivity("idle-1")
            #expect(await manager.reapOnce().isEmpty)

            clock.advance(by: 250)  // idle-1 had activity 250 s ago: not idle yet
            #expect(await manager.reapOnce().isEmpty)

            clock.advance(by: 100)  // 350 s since activity: idle; 550 s since start: within TTL
            #expect(await manager.reapOnce() == ["idle-1"])
            #expect(try await manager.session("idle-1").exitReason == .idle)
            #expect(try await manager.session("idle-1").state == .exited)

            clock.advance(by: 100)  // 650 s: past ttl-1's TTL; watched-1 has a viewer
            #expect(await manager.reapOnce() == ["ttl-1"])
            let ttl = try await manager.session("ttl-1")
            #expect(ttl.exitReason == .ttl)
            #expect(ttl.state == .exited)
            #expect(try await manager.session("watched-1").state == .running)

            manager.activity.viewerDetached("watched-1")
            clock.advance(by: 301)
            #expect(await manager.reapOnce() == ["watched-1"])
        }
    }
}
