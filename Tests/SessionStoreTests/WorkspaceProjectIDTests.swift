import Foundation
import Testing

@testable import SessionStore

@Suite("Workspace project ids")
struct WorkspaceProjectIDTests {
    @Test("stable per workspace, the lowest free from the first, freed with the workspace")
    func allocation() async throws {
        try await withStore { store, _ in
            for name in ["a", "b", "c"] { _ = try await store.workspaceUID(for: name, candidates: (7000...7100).map(UInt32.init)) }
            #expect(try await store.workspaceProjectID(for: "a", first: 100_000) == 100_000)
            #expect(try await store.workspaceProjectID(for: "b", first: 100_000) == 100_001)
            #expect(try await store.workspaceProjectID(for: "a", first: 100_000) == 100_000)
            #expect(try await store.workspaceProjectID(for: "c", first: 100_000) == 100_002)
            try await store.forgetWorkspace("a")
            _ = try await store.workspaceUID(for: "d", candidates: (7000...7100).map(UInt32.init))
            // a's id is free again, and the lowest.
            #expect(try await store.workspaceProjectID(for: "d", first: 100_000) == 100_000)
            let records = try await store.workspaceRecords()
            #expect(records.map(\.name) == ["b", "c", "d"])
            #expect(records.map(\.projectID) == [100_001, 100_002, 100_000])
            #expect(try await store.workspaceRecord(named: "c") == records[1])
            #expect(try await store.workspaceRecord(named: "a") == nil, "forgotten")
            // A workspace without a row (no uid yet) gets no id.
            let missing = await #expect(throws: SessionStoreError.self) {
                try await store.workspaceProjectID(for: "nobody", first: 100_000)
            }
            #expect(missing?.code == .notFound)
        }
    }
}
