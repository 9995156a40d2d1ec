import Foundation
import GRDB

/// A workspace as the store records it: its uid and, once it has one, its project-quota id.
public struct WorkspaceRecord: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var projectID: UInt32?
    public var createdAt: Date
}

extension SessionStore {
    /// The project-quota id of workspace `name`: the one it has, or the lowest id from `first` up
    /// that no other workspace holds, recorded in the same transaction. The id stays with the
    /// workspace until ``forgetWorkspace(_:)`` deletes its row, which frees it.
    ///
    /// - Throws: ``SessionStoreError`` `notFound` when the workspace has no row yet (its uid is
    ///   allocated first, by ``workspaceUID(for:candidates:at:)``), `conflict` when no id is left.
    public func workspaceProjectID(for name: String, first: UInt32) async throws -> UInt32 {
        try await write("allocating a project id for workspace \(name)") { db in
            guard let row = try db.cachedRow("SELECT projectID FROM workspace WHERE name = ?", [name]) else {
                throw SessionStoreError(
                    code: .notFound, message: "workspace '\(name)' has no record yet; allocate its uid before its project id")
            }
            let existing: Int64? = row["projectID"]
            if let existing { return UInt32(existing) }
            let candidate = try db.cachedValue(
                Int64.self,
                """
                SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM workspace WHERE projectID = :first) THEN :first
                    ELSE (SELECT min(w.projectID + 1) FROM workspace w WHERE w.projectID >= :first
                          AND NOT EXISTS (SELECT 1 FROM workspace x WHERE x.projectID = w.projectID + 1)) END
                """, ["first": Int64(first)]) ?? Int64(first)
            guard candidate <= Int64(UInt32.max) else {
                throw SessionStoreError(
                    code: .conflict, message: "no free project id for workspace '\(name)'; delete unused workspaces")
            }
            try db.cachedExecute("UPDATE workspace SET projectID = ? WHERE name = ?", [candidate, name])
            return UInt32(candidate)
        }
    }

    /// Every workspace the store knows, by name.
    public func workspaceRecords() async throws -> [WorkspaceRecord] {
        try await read("listing workspaces") { db in
            try db.cachedRows("SELECT name, uid, projectID, createdAt FROM workspace ORDER BY name").map(Self.workspaceRecord)
        }
    }

    /// Workspace `name`'s record; nil when the store has none (no session ever used the name).
    public func workspaceRecord(named name: String) async throws -> WorkspaceRecord? {
        try await read("reading workspace \(name)") { db in
            try db.cachedRow("SELECT name, uid, projectID, createdAt FROM workspace WHERE name = ?", [name]).map(Self.workspaceRecord)
        }
    }

    private static func workspaceRecord(_ row: Row) -> WorkspaceRecord {
        WorkspaceRecord(
            name: row["name"], uid: UInt32(row["uid"] as Int64), projectID: (row["projectID"] as Int64?).map { UInt32($0) },
            createdAt: Date(timeIntervalSince1970: Double(row["createdAt"] as Int64) / 1000))
    }
}
