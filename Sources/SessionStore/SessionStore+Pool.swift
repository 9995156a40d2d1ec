import Foundation
import GRDB

extension SessionStore {
    // MARK: Pool slots

    /// Records a new slot (state `creating`) before its container is created.
    public func insertPoolSlot(_ slot: PoolSlot) async throws {
        try await write("recording pool slot \(slot.id)") { db in
            try db.cachedExecute(
                """
                INSERT INTO pool_slot (id, profile, image, containerName, containerID, directory, state, sessionID,
                    daemonInstance, createdAt, claimedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    slot.id, slot.profile, slot.image, slot.containerName, slot.containerID, slot.directory,
                    slot.state.rawValue, slot.sessionID, slot.daemonInstance, Milliseconds(slot.createdAt),
                    slot.claimedAt.map(Milliseconds.init),
                ])
        }
    }

    /// Moves slot `id` from `creating` to `ready` with its container. False when the slot is gone
    /// or not `creating`.
    @discardableResult
    public func markPoolSlotReady(id: String, containerID: String) async throws -> Bool {
        try await write("marking pool slot \(id) ready") { db in
            try db.cachedExecute("UPDATE pool_slot SET state = 'ready', containerID = ? WHERE id = ? AND state = 'creating'", [containerID, id])
            return db.changesCount == 1
        }
    }

    /// Records the container of a `creating` slot as soon as the engine created it.
    public func setPoolSlotContainer(id: String, containerID: String) async throws {
        try await write("recording the container of pool slot \(id)") { db in
            try db.cachedExecute("UPDATE pool_slot SET containerID = ? WHERE id = ? AND state = 'creating'", [containerID, id])
        }
    }

    /// Claims the `ready` slot `slot` for the new session `sessionID`, in the transaction that
    /// inserts it: the slot becomes `claimed` by the session. This is the compare-and-set that
    /// hands a slot out at most once; it also holds only while the slot's recorded container is
    /// still `slot`'s.
    ///
    /// - Returns: whether the slot was claimed; false when it was not `ready` (claimed by another
    ///   session, or retired) or its container is not the one `slot` names.
    static func claimPoolSlot(_ db: Database, _ slot: PoolSlot, for sessionID: String, at time: Date) throws -> Bool {
        // No `RETURNING`: the caller knows the container, and SQLite gathers returned rows in a
        // temporary table, which cost a claim a third more.
        try db.cachedExecute(
            """
            UPDATE pool_slot SET state = 'claimed', sessionID = ?, claimedAt = ?
            WHERE id = ? AND state = 'ready' AND containerID = ? AND containerName = ?
            """,
            [sessionID, Milliseconds(time), slot.id, slot.containerID, slot.containerName])
        return db.changesCount == 1
    }

    /// Forgets slot `id` (its container and directory are gone).
    public func deletePoolSlot(id: String) async throws {
        try await write("forgetting pool slot \(id)") { db in
            try db.cachedExecute("DELETE FROM pool_slot WHERE id = ?", [id])
        }
    }

    /// Every slot, oldest first.
    public func poolSlots() async throws -> [PoolSlot] {
        try await read("listing pool slots") { db in
            try db.cachedRows("SELECT * FROM pool_slot ORDER BY createdAt, id").map(PoolSlot.init(row:))
        }
    }

    /// The slot claimed by session `sessionID`, if any.
    public func poolSlot(sessionID: String) async throws -> PoolSlot? {
        try await read("finding the pool slot of session \(sessionID)", session: sessionID) { db in
            try db.cachedRow("SELECT * FROM pool_slot WHERE sessionID = ?", [sessionID])
                .map(PoolSlot.init(row:))
        }
    }

    // MARK: Pool targets

    /// The targets set through the admin API (they override the configuration file's).
    public func poolTargets() async throws -> [PoolTarget] {
        try await read("listing pool targets") { db in
            try db.cachedRows("SELECT * FROM pool_target ORDER BY profile").map { row in
                PoolTarget(
                    profile: row["profile"], image: row["image"], size: Int(row["size"] as Int64),
                    refillPerMinute: Int(row["refillPerMinute"] as Int64))
            }
        }
    }

    /// Records `target` for its profile, replacing any earlier one.
    public func setPoolTarget(_ target: PoolTarget, at time: Date = Date()) async throws {
        try await write("recording the pool target of profile \(target.profile)") { db in
            try db.execute(
                sql: """
                    INSERT INTO pool_target (profile, image, size, refillPerMinute, updatedAt) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (profile) DO UPDATE SET image = excluded.image, size = excluded.size,
                        refillPerMinute = excluded.refillPerMinute, updatedAt = excluded.updatedAt
                    """,
                arguments: [
                    target.profile, target.image, Int64(target.size), Int64(target.refillPerMinute), Milliseconds(time),
                ])
        }
    }
}

extension PoolSlot {
    init(row: Row) throws {
        guard let state = State(rawValue: row["state"] as String) else {
            throw SessionStoreError(
                code: .undecodable, message: "pool slot \(row["id"] as String? ?? "?") has an unknown state; the database was changed outside the daemon")
        }
        self.init(
            id: row["id"], profile: row["profile"], image: row["image"], containerName: row["containerName"],
            containerID: row["containerID"], directory: row["directory"], state: state, sessionID: row["sessionID"],
            daemonInstance: row["daemonInstance"], createdAt: (row["createdAt"] as Milliseconds).date,
            claimedAt: (row["claimedAt"] as Milliseconds?)?.date)
    }
}
