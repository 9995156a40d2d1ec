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

    @Test("20 sessions claim one ready slot at once: exactly one gets it, and becomes starting on its container")
    func concurrentClaims() async throws {
        try await withStore { store, _ in
            for index in 0..<20 {
                _ = try await store.insertSession(makeSession(id: "s\(index)"), event: createdEvent())
            }
            try await store.insertPoolSlot(Self.slot("one"))
            // Not ready yet: nobody can claim it.
            #expect(try await store.claimPoolSlot("one", for: "s0") == nil)
            #expect(try await store.markPoolSlotReady(id: "one", containerID: "c-one"))
            let winners = try await withThrowingTaskGroup(of: Session?.self) { group in
                for index in 0..<20 {
                    group.addTask { try await store.claimPoolSlot("one", for: "s\(index)") }
                }
                return try await group.reduce(into: [Session]()) { if let session = $1 { $0.append(session) } }
            }
            #expect(winners.count == 1)
            let winner = try #require(winners.first)
            #expect(winner.state == .starting)
            #expect(winner.containerID == "c-one")
            #expect(winner.poolSlot == "one")
            #expect(winner.containerName == "sandcastle-pool-one")
            let slot = try #require(try await store.poolSlot(sessionID: winner.id))
            #expect(slot.state == .claimed)
            // The others are untouched.
            let others = try await store.sessions(inStates: [.creating])
            #expect(others.count == 19)
        }
    }

    @Test("a session that is not creating cannot claim, and the slot stays ready")
    func claimNeedsCreatingSession() async throws {
        try await withStore { store, _ in
            _ = try await store.insertSession(makeSession(id: "gone"), event: createdEvent())
            try await store.transition(id: "gone", from: [.creating], to: .failed)
            try await store.insertPoolSlot(Self.slot("a"))
            try await store.markPoolSlotReady(id: "a", containerID: "c-a")
            await #expect(throws: SessionStoreError.self) { try await store.claimPoolSlot("a", for: "gone") }
            #expect(try await store.poolSlots().first?.state == .ready)
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
