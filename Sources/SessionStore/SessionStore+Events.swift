import Foundation
import GRDB

/// The append-only event log.
///
/// There is no API to change or delete an event (a trigger refuses `UPDATE` in SQL too), except
/// `pruneEvents`, the explicit retention policy, which deletes the oldest rows. Ids are
/// `AUTOINCREMENT`: strictly increasing in commit order, without gaps between committed events
/// (a rolled-back transaction also rolls back its id), and never reused, pruning included.
/// Because the single writer commits one transaction at a time, an event with a lower id is
/// never committed after one with a higher id became visible: a reader that has seen id N has
/// seen every event up to N, which is what `Last-Event-ID` resumption relies on.
extension SessionStore {
    /// Appends an event in its own transaction and returns it with its id.
    @discardableResult
    public func appendEvent(_ event: NewEvent) async throws -> Event {
        let appended = try await write("appending a \(event.type) event", session: event.sessionID) { db in
            try Self.insertEvent(db, event, sessionID: event.sessionID)
        }
        eventSignal.published(appended.id)
        return appended
    }

    /// Appends `events` in one transaction, in order. When the transaction fails as a whole, each
    /// event is tried on its own, so one bad event does not lose the others; the error of the
    /// first that still fails is thrown after the rest were tried.
    @discardableResult
    public func appendEvents(_ events: [NewEvent]) async throws -> [Event] {
        guard !events.isEmpty else { return [] }
        do {
            let appended = try await write("appending \(events.count) events") { db in
                try events.map { try Self.insertEvent(db, $0, sessionID: $0.sessionID) }
            }
            if let last = appended.last { eventSignal.published(last.id) }
            return appended
        } catch {
            guard events.count > 1 else { throw error }
            var appended: [Event] = []
            var firstError: (any Error)?
            for event in events {
                do {
                    appended.append(try await appendEvent(event))
                } catch {
                    firstError = firstError ?? error
                }
            }
            if let firstError { throw firstError }
            return appended
        }
    }

    /// Up to `limit` events with ids greater than `id`, oldest first. `after: 0` starts at the
    /// beginning of what retention kept. For SSE, `id` is the client's `Last-Event-ID`.
    public func events(after id: Int64, limit: Int = 500) async throws -> [Event] {
        try await read("reading the event log") { db in try Self.fetchEvents(db, after: id, limit: limit) }
    }

    /// Up to `limit` events of one session with ids greater than `id`, oldest first.
    public func events(forSession sessionID: String, after id: Int64 = 0, limit: Int = 500) async throws -> [Event] {
        try await read("reading the event log", session: sessionID) { db in
            try db.cachedRows(
                "SELECT * FROM event WHERE sessionID = ? AND id > ? ORDER BY id LIMIT ?", [sessionID, id, max(0, limit)]
            ).map(Event.init(row:))
        }
    }

    /// The largest event id ever issued (0 before the first event), pruned events included: an
    /// SSE client that wants only new events starts after it.
    public func latestEventID() async throws -> Int64 {
        try await read("reading the event log") { db in try Self.latestEventID(db) }
    }

    /// The smallest id retention kept, or `nil` when the log is empty. A client whose
    /// `Last-Event-ID` is below `oldestEventID() - 1` has missed pruned events.
    public func oldestEventID() async throws -> Int64? {
        try await read("reading the event log") { db in try db.cachedValue(Int64.self, "SELECT min(id) FROM event") }
    }

    /// Waits until at least one event with an id greater than `id` is committed, then returns
    /// up to `limit` of them, oldest first. Returns at once when such events already exist.
    ///
    /// Waiting costs no database access: appends through this store wake the waiters after
    /// their transaction commits. (Only writes through this store wake them; the daemon is the
    /// database's only writer.) A client ahead of the log (an id from before a restore) waits
    /// until the log passes it: compare with `latestEventID()` first.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting; storage errors.
    public func waitForEvents(after id: Int64, limit: Int = 500) async throws -> [Event] {
        while true {
            try Task.checkCancellation()
            let (batch, latest) = try await read("reading the event log") { db in
                (try Self.fetchEvents(db, after: id, limit: limit), try Self.latestEventID(db))
            }
            if !batch.isEmpty { return batch }
            // `latest` comes from the same snapshot as the empty batch: nothing up to it is left
            // to read (ids between `id` and `latest` were pruned), so wait past it.
            await eventSignal.wait(after: max(id, latest))
            if eventSignal.isClosed { throw SessionStoreError.closed("waiting for events") }
        }
    }

    /// An endless sequence of the events after `id`, waiting for new ones as they are appended
    /// (`waitForEvents` in a loop). It ends (`nil`) when the consuming task is cancelled.
    public func eventFeed(after id: Int64, batchSize: Int = 500) -> EventFeed {
        EventFeed(store: self, after: id, batchSize: batchSize)
    }

    /// Retention: deletes events older than `cutoff` and, when `keepingLatest` is set, all but
    /// the newest `keepingLatest` events. Deletes in transactions of at most `batchSize` rows so
    /// that writers are never held up for long. Ids are not reused afterwards.
    ///
    /// - Returns: how many events were deleted.
    @discardableResult
    public func pruneEvents(olderThan cutoff: Date? = nil, keepingLatest: Int? = nil, batchSize: Int = 1000)
        async throws -> Int
    {
        guard cutoff != nil || keepingLatest != nil else { return 0 }
        let boundary: Int64? =
            if let keepingLatest {
                try await read("pruning the event log") { db in
                    try db.cachedValue(Int64.self, "SELECT id FROM event ORDER BY id DESC LIMIT 1 OFFSET ?", [max(0, keepingLatest)])
                }
            } else {
                nil
            }
        let cutoffMillis = cutoff.map(Milliseconds.init)
        guard cutoffMillis != nil || boundary != nil else { return 0 }
        let size = max(1, batchSize)
        var deleted = 0
        while true {
            let count = try await write("pruning the event log") { db in
                try db.cachedExecute(
                    """
                    DELETE FROM event WHERE id IN (
                        SELECT id FROM event WHERE time < ? OR id <= ? ORDER BY id LIMIT ?)
                    """,
                    [cutoffMillis, boundary, size])
                return db.changesCount
            }
            deleted += count
            if count < size { break }
        }
        if deleted > 0 {
            logger.info("event log pruned", metadata: ["store.events_deleted": "\(deleted)"])
        }
        return deleted
    }

    // MARK: Internals

    static func insertEvent(_ db: Database, _ event: NewEvent, sessionID: String?) throws -> Event {
        try db.cachedExecute("INSERT INTO event (sessionID, type, time, payload) VALUES (?, ?, ?, ?)", [sessionID, event.type.rawValue, Milliseconds(event.time), event.payload])
        return Event(
            id: db.lastInsertedRowID, sessionID: sessionID, type: event.type,
            time: Milliseconds(event.time).date, payload: event.payload)
    }

    static func fetchEvents(_ db: Database, after id: Int64, limit: Int) throws -> [Event] {
        try db.cachedRows("SELECT * FROM event WHERE id > ? ORDER BY id LIMIT ?", [id, max(0, limit)])
            .map(Event.init(row:))
    }

    static func latestEventID(_ db: Database) throws -> Int64 {
        try db.cachedValue(Int64.self, "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0
    }
}

/// The events after an id, followed live. See `SessionStore.eventFeed(after:batchSize:)`.
public struct EventFeed: AsyncSequence, Sendable {
    public typealias Element = Event

    let store: SessionStore
    let after: Int64
    let batchSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, cursor: after, batchSize: batchSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let store: SessionStore
        /// The id of the last event handed out.
        var cursor: Int64
        let batchSize: Int
        var buffer: [Event] = []
        var position = 0

        /// The next event, waiting for one if needed; `nil` once the task is cancelled.
        public mutating func next() async throws -> Event? {
            if position == buffer.count {
                do {
                    buffer = try await store.waitForEvents(after: cursor, limit: batchSize)
                } catch is CancellationError {
                    return nil
                }
                position = 0
            }
            let event = buffer[position]
            position += 1
            cursor = event.id
            return event
        }
    }
}
