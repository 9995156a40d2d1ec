import DockerEngine
import Foundation
import SandboxPolicy
import SandcastleTestSupport
import SessionStore
import Sessions
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The warm pool on a real engine with real mounts: run only inside Docker-in-Docker
/// (`WarmPoolInDinDTests` starts it from the host).
@Suite("Warm pool, inside Docker-in-Docker", .serialized, .enabled(if: InDinD.isInside))
struct WarmPoolInsideTests {
    /// A script that shows who it runs as, what it sees, and what it may do, then waits.
    static let probe = [
        "sh", "-c",
        "echo uid=$(id -u) gid=$(id -g); echo CAPS $(grep -E 'CapEff|CapPrm|CapBnd' /proc/self/status | tr -s '\\t ' ' '); "
            + "echo LS $(ls -A /workspace | tr '\\n' ' '); echo written > /workspace/out; echo HOME=$HOME FOO=$FOO; "
            + "echo PWD $(pwd); echo DONE; sleep 3600",
    ]

    @Test func aClaimSeesItsOwnWorkspaceOnlyAndWritesAsItsUID() async throws {
        try await PoolFixture.with(targets: [PoolFixture.target(size: 2)]) { fixture in
            try await fixture.waitForReady(2)
            let workspaces = fixture.base.directory + "/workspaces"
            var sessions: [Session] = []
            for name in ["alpha", "beta"] {
                var request = fixture.base.request(name, command: Self.probe)
                request.env = ["FOO=bar-\(name)"]
                let session = try await fixture.manager.create(id: "claim-\(name)", request: request, owner: "test").session
                // Planted after the workspace exists (created at claim): the session must see it live.
                try "marker".write(toFile: "\(workspaces)/\(name)/only-\(name)", atomically: false, encoding: .utf8)
                sessions.append(session)
            }
            for (session, name, other) in [(sessions[0], "alpha", "beta"), (sessions[1], "beta", "alpha")] {
                #expect(session.state == .running)
                #expect(session.poolSlot != nil, "session \(session.id) was not served by the pool")
                let container = try await fixture.base.client.inspectContainer(session.containerID ?? "")
                #expect(container.config?.labels?[LaunchSpec.poolSlotLabel] == session.poolSlot)
                let output = try await fixture.outputs.waitFor("DONE", in: session.id)
                #expect(output.contains("uid=\(session.workspaceUID) gid=\(session.workspaceUID)"), "\(output)")
                #expect(output.contains("CapPrm: 0000000000000000"), "\(output)")
                #expect(output.contains("CapEff: 0000000000000000"), "\(output)")
                #expect(output.contains("CapBnd: 0000000000000000"), "\(output)")
                #expect(output.contains("FOO=bar-\(name)"), "\(output)")
                #expect(output.contains("HOME=/workspace"), "\(output)")
                #expect(output.contains("PWD /workspace"), "\(output)")
                #expect(!output.contains("only-\(other)"), "session \(session.id) sees the other workspace: \(output)")
                #expect(!output.contains(".sandcastle-gate-ready"), "the slot directory shows through: \(output)")
                var info = stat()
                #expect(lstat("\(workspaces)/\(name)/out", &info) == 0)
                #expect(info.st_uid == UInt32(session.workspaceUID))
            }
            // The second claim saw its marker only if written before its ls; the first sees its own
            // on a second look through the mount.
            let listing = try await fixture.base.client.inspectContainer(sessions[0].containerID ?? "")
            #expect(listing.state.running)
            #expect(fixture.metrics.warm == 2)
            return ()
        }
    }

    @Test func concurrentClaimsNeverShareASlot() async throws {
        try await PoolFixture.with(targets: [PoolFixture.target(size: 4)]) { fixture in
            try await fixture.waitForReady(4)
            // No refill during the race: exactly four claims can be warm.
            try await fixture.pool.setTarget(PoolFixture.target(size: 4, refillPerMinute: 1))
            let sessions = try await withThrowingTaskGroup(of: Session.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await fixture.manager.create(
                            id: "race-\(index)", request: fixture.base.request("race-\(index)", command: ["sleep", "3600"]),
                            owner: "test").session
                    }
                }
                return try await group.reduce(into: [Session]()) { $0.append($1) }
            }
            #expect(sessions.count == 8)
            #expect(sessions.allSatisfy { $0.state == .running })
            let warm = sessions.filter { $0.poolSlot != nil }
            #expect(warm.count == 4, "\(warm.map(\.id))")
            #expect(Set(warm.compactMap(\.poolSlot)).count == warm.count)
            #expect(Set(sessions.compactMap(\.containerID)).count == 8)
            let slots = try await fixture.base.store.poolSlots().filter { $0.state == .claimed }
            #expect(slots.count == 4)
            #expect(Set(slots.compactMap(\.sessionID)).count == 4)
            #expect(fixture.metrics.warm == 4)
            #expect(fixture.metrics.cold == 4)
            return ()
        }
    }

    @Test func thePoolRefillsAndAnEmptyPoolFallsBackToCold() async throws {
        try await PoolFixture.with(targets: [PoolFixture.target(size: 2)]) { fixture in
            try await fixture.waitForReady(2)
            let first = try await fixture.base.store.poolSlots().map(\.id)
            for index in 0..<2 {
                let session = try await fixture.manager.create(
                    id: "refill-\(index)", request: fixture.base.request("refill-\(index)"), owner: "test").session
                #expect(session.poolSlot != nil)
            }
            try await fixture.waitForReady(2)
            let ready = try await fixture.base.store.poolSlots().filter { $0.state == .ready }.map(\.id)
            #expect(Set(ready).isDisjoint(with: first), "a claimed slot came back")
            // The same request again: the existing session, and the slot it took is ready again.
            let again = try await fixture.manager.create(id: "refill-0", request: fixture.base.request("refill-0"), owner: "test")
            #expect(!again.created)
            #expect(await fixture.pool.statuses().first?.ready == 2)
            #expect(Set(try await fixture.base.store.poolSlots().filter { $0.state == .ready }.map(\.id)) == Set(ready))

            // Size 0: every request is launched cold, and counted so.
            try await fixture.pool.setTarget(PoolFixture.target(size: 0))
            let cold = try await fixture.manager.create(id: "cold-1", request: fixture.base.request("cold-1"), owner: "test").session
            #expect(cold.state == .running)
            #expect(cold.poolSlot == nil)
            #expect(cold.containerName == SessionManager.containerName(for: "cold-1"))
            #expect(fixture.metrics.cold >= 1)
            #expect(await fixture.pool.statuses().first?.ready == 0)

            // Removing a pooled session unmounts the slot and deletes its directory, not the workspace.
            let pooled = try await fixture.manager.session("refill-0")
            let slotDirectory = fixture.root + "/" + (pooled.poolSlot ?? "?")
            #expect(LinuxSlotMounter().isMountPoint(slotDirectory))
            try await fixture.manager.remove("refill-0")
            #expect(!LinuxSlotMounter().isMountPoint(slotDirectory))
            #expect(!FileManager.default.fileExists(atPath: slotDirectory))
            #expect(FileManager.default.fileExists(atPath: fixture.base.directory + "/workspaces/refill-0"))
            return ()
        }
    }
}
