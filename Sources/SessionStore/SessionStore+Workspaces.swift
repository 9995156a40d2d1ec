import Foundation
import GRDB

extension SessionStore {
    /// The uid of workspace `name`: the one it already has, or the first of `candidates` that no
    /// other workspace holds, recorded in the same transaction so two launches cannot take one uid.
    ///
    /// - Throws: ``SessionStoreError`` `conflict` when every candidate is taken (the profile's uid
    ///   range is full), `storageFull` and the like as for any write.
    public func workspaceUID<Candidates: Sequence<UInt32> & Sendable>(
        for name: String, candidates: Candidates, at date: Date = Date()
    ) async throws -> UInt32 {
        try await write("allocating a uid for workspace \(name)") { db in
            try Self.workspaceUID(db, for: name, candidates: candidates, at: date)
        }
    }

    /// Workspace `name`'s uid, allocated from `candidates` in `db`'s transaction when it has none.
    static func workspaceUID<Candidates: Sequence<UInt32>>(
        _ db: Database, for name: String, candidates: Candidates, at date: Date
    ) throws -> UInt32 {
        if let uid = try db.cachedValue(Int64.self, "SELECT uid FROM workspace WHERE name = ?", [name]) {
            return UInt32(uid)
        }
        var tried = 0
        for candidate in candidates where candidate > 0 {
            tried += 1
            let taken = try db.cachedValue(Bool.self, "SELECT EXISTS (SELECT 1 FROM workspace WHERE uid = ?)", [Int64(candidate)]) ?? true
            if taken { continue }
            try db.cachedExecute("INSERT INTO workspace (name, uid, createdAt) VALUES (?, ?, ?)", [name, Int64(candidate), Int64(date.timeIntervalSince1970 * 1000)])
            return candidate
        }
        throw SessionStoreError(
            code: .conflict,
            message: "no free uid for workspace '\(name)': all \(tried) candidates belong to other "
                + "workspaces. Widen the profile's uid range or delete unused workspaces.")
    }

    /// Forgets workspace `name`'s uid, once the workspace is deleted.
    public func forgetWorkspace(_ name: String) async throws {
        try await write("forgetting workspace \(name)") { db in
            try db.cachedExecute("DELETE FROM workspace WHERE name = ?", [name])
        }
    }
}
