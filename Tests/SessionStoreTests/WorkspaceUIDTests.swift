import Foundation
import Testing

@testable import SessionStore

@Suite("Workspace uids")
struct WorkspaceUIDTests {
    @Test("a workspace keeps its uid, a taken uid moves the next workspace on, a full range is a conflict")
    func allocation() async throws {
        try await withStore { store, _ in
            let a = try await store.workspaceUID(for: "a", candidates: [7000, 7001])
            #expect(a == 7000)
            #expect(try await store.workspaceUID(for: "a", candidates: [7001]) == 7000)
            // "b" prefers 7000 too (a hash collision): it gets the next free candidate.
            #expect(try await store.workspaceUID(for: "b", candidates: [7000, 7001]) == 7001)
            let full = await #expect(throws: SessionStoreError.self) {
                try await store.workspaceUID(for: "c", candidates: [7000, 7001])
            }
            #expect(full?.code == .conflict)
            #expect(full?.message.contains("uid range") == true)
            try await store.forgetWorkspace("b")
            #expect(try await store.workspaceUID(for: "c", candidates: [7000, 7001]) == 7001)
        }
    }

    @Test("concurrent first sessions of many workspaces never share a uid")
    func concurrentAllocation() async throws {
        try await withStore { store, _ in
            let uids = try await withThrowingTaskGroup(of: UInt32.self) { group in
                for index in 0..<40 {
                    group.addTask { try await store.workspaceUID(for: "w\(index)", candidates: Array(9000..<9100)) }
                }
                return try await group.reduce(into: [UInt32]()) { $0.append($1) }
            }
            #expect(Set(uids).count == 40)
        }
    }

    @Test("a new session takes its workspace's uid in its insert; an existing id allocates nothing")
    func insertAllocates() async throws {
        try await withStore { store, _ in
            var first = makeSession(id: "s1")
            first.workspaceUID = 0
            guard case .inserted(let inserted) = try await store.insertSession(first, allocatingUIDFrom: [7100, 7101], event: createdEvent())
            else { Issue.record("not inserted"); return }
            #expect(inserted.workspaceUID == 7100)
            #expect(try await store.session(id: "s1")?.workspaceUID == 7100)
            #expect(try await store.workspaceUID(for: first.workspace, candidates: [7101]) == 7100)

            // The same id again, for another workspace: the stored session, and no uid for it.
            var again = makeSession(id: "s1", requestHash: "other")
            again.workspace = "elsewhere"
            guard case .existing(let existing) = try await store.insertSession(again, allocatingUIDFrom: [7101], event: createdEvent())
            else { Issue.record("not existing"); return }
            #expect(existing.requestHash == first.requestHash)
            #expect(try await store.workspaceUID(for: "third", candidates: [7101]) == 7101)

            // A full range fails the insert: no session is left behind.
            var full = makeSession(id: "s2")
            full.workspace = "fourth"
            let error = await #expect(throws: SessionStoreError.self) {
                try await store.insertSession(full, allocatingUIDFrom: [7100, 7101], event: createdEvent())
            }
            #expect(error?.code == .conflict)
            #expect(try await store.session(id: "s2") == nil)
        }
    }
}
