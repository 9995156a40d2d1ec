import Foundation
import Testing

@testable import SessionStore

@Suite("Warm-pool slots")
struct PoolSlotTests {
    static func slot(_ id: String, state: PoolSlot.State = .creating) -> PoolSlot {
        PoolSlot(
            id: id, profile: "default", image: "img:1", containerName: "sandcastle-pool-\(id)", directory: "/pool/\(id)",
            state: state, daemonInstance: "test", createdAt: wholeMilliseconds(Date()))
    }

    /// Records slot `id` and marks it ready with container `c-<id>`; returns it as the pool holds it.
    static func readySlot(_ id: String, in store: SessionStore) async throws -> PoolSlot {
        var slot = Self.slot(id)
        try await store.insertPoolSlot(slot)
        #expect(try await store.markPoolSlotReady(id: id, containerID: "c-\(id)"))
        slot.containerID = "c-\(id)"
        slot.state = .ready
        return slot
    }

    @Test("20 new sessions claim one ready slot at once: exactly one gets it, and is starting on its container")
    func concurrentClaims() async throws {
        try await withStore { store, _ in
            let one = try await Self.readySlot("one", in: store)
            let inserted = try await withThrowingTaskGroup(of: Session.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await store.insertSession(
                            makeSession(id: "s\(index)"), allocatingUIDFrom: 7100..<7200, event: createdEvent(),
                            claimingPoolSlot: one
                        ).session
                    }
                }
                return try await group.reduce(into: [Session]()) { $0.append($1) }
            }
            let winners = inserted.filter { $0.poolSlot != nil }
            #expect(winners.count == 1)
            let winner = try #require(winners.first)
            #expect(winner.state == .starting)
            #expect(winner.containerID == "c-one")
            #expect(winner.poolSlot == "one")
            #expect(winner.containerName == "sandcastle-pool-one")
            let slot = try #require(try await store.poolSlot(sessionID: winner.id))
            #expect(slot.state == .claimed)
            // The others are inserted without a slot, to launch cold.
            let others = try await store.sessions(inStates: [.creating])
            #expect(others.count == 19)
            #expect(others.allSatisfy { $0.poolSlot == nil && $0.containerID == nil })
        }
    }

    @Test("a new session claims its slot in the insert; a slot not ready, one on another container, or an existing id, claims nothing")
    func insertClaims() async throws {
        try await withStore { store, _ in
            let warm = try await Self.readySlot("warm", in: store)
            let cold = Self.slot("cold")
            try await store.insertPoolSlot(cold)
            guard case .inserted(let claimed) = try await store.insertSession(
                makeSession(id: "a"), allocatingUIDFrom: 7100..<7200, event: createdEvent(), claimingPoolSlot: warm)
            else { Issue.record("session a was not inserted"); return }
            #expect(claimed.state == .starting)
            #expect(claimed.containerID == "c-warm")
            #expect(claimed.poolSlot == "warm")
            #expect(try await store.session(id: "a") == claimed)
            #expect(try await store.poolSlot(sessionID: "a")?.state == .claimed)
            // Already claimed: the next session is inserted without it, as is one whose slot is not
            // ready, and one whose slot's recorded container is not the one it was given.
            var moved = try await Self.readySlot("moved", in: store)
            moved.containerID = "c-elsewhere"
            for (id, slot) in [("b", warm), ("c", cold), ("d", moved)] {
                guard case .inserted(let plain) = try await store.insertSession(
                    makeSession(id: id), allocatingUIDFrom: 7100..<7200, event: createdEvent(), claimingPoolSlot: slot)
                else { Issue.record("session \(id) was not inserted"); return }
                #expect(plain.state == .creating)
                #expect(plain.poolSlot == nil)
                #expect(try await store.poolSlot(sessionID: id) == nil)
            }
            #expect(try await store.poolSlots().first { $0.id == "moved" }?.state == .ready)
            // An existing id: nothing is written, the ready slot stays ready.
            let spare = try await Self.readySlot("spare", in: store)
            guard case .existing = try await store.insertSession(
                makeSession(id: "a"), allocatingUIDFrom: 7100..<7200, event: createdEvent(), claimingPoolSlot: spare)
            else { Issue.record("session a was inserted twice"); return }
            #expect(try await store.poolSlots().first { $0.id == "spare" }?.state == .ready)
        }
    }

    @Test("targets are kept per profile, the latest wins; slots are forgotten")
    func targetsAndDeletion() async throws {
        try await withStore { store, _ in
            try await store.setPoolTarget(PoolTarget(profile: "default", image: "img:1", size: 4, refillPerMinute: 60))
            try await store.setPoolTarget(PoolTarget(profile: "default", image: "img:2", size: 0, refillPerMinute: 30))
            #expect(try await store.poolTargets() == [PoolTarget(profile: "default", image: "img:2", size: 0, refillPerMinute: 30)])
            try await store.insertPoolSlot(Self.slot("b"))
            try await store.deletePoolSlot(id: "b")
            #expect(try await store.poolSlots().isEmpty)
        }
    }
}
