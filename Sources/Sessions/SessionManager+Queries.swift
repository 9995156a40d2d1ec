import DockerEngine
import Foundation
import NIOCore
import SandboxPolicy
import SessionStore

/// What the API reads and asks beside a session's lifecycle. The API talks to the manager only;
/// the store and the engine stay behind it. Reads that need no ordering with the manager's own
/// work are `nonisolated`, so they never queue behind a launch.
extension SessionManager {
    /// Session `id` as the store has it. Every attach token and terminal asks for it: it never
    /// waits for the manager's launches in a burst.
    ///
    /// - Throws: ``SessionManagerError`` `notFound`, `storageUnavailable`.
    public nonisolated func session(_ id: String) async throws -> Session {
        let found: Session?
        do {
            found = try await store.session(id: id)
        } catch {
            throw SessionManagerError.store(error, "reading session \(id)", sessionID: id)
        }
        guard let found else { throw SessionManagerError.notFound(id) }
        return found
    }

    /// A page of sessions, newest first (see ``SessionStore/sessions(states:label:after:limit:)``).
    public nonisolated func sessions(
        states: Set<SessionState>? = nil, label: LabelFilter? = nil, after cursor: SessionCursor? = nil, limit: Int = 100
    ) async throws -> SessionPage {
        do {
            return try await store.sessions(states: states, label: label, after: cursor, limit: limit)
        } catch {
            throw SessionManagerError.store(error, "listing sessions")
        }
    }

    /// How many sessions are in each state (for the metrics gauges and systemd's status line).
    public nonisolated func sessionCounts() async throws -> [SessionState: Int] {
        let stored = try await store.sessionCounts()
        var counts: [SessionState: Int] = [:]
        for state in SessionState.allCases where state != .removed { counts[state] = stored[state] ?? 0 }
        return counts
    }

    /// The terminal output the engine logged for session `id`: the last `tail` lines, or all.
    ///
    /// - Throws: ``SessionManagerError`` `notFound` for an unknown session or one whose container
    ///   is gone.
    public nonisolated func logs(_ id: String, tail: Int?) async throws
        -> any AsyncSequence<ByteBuffer, any Error> & Sendable
    {
        let found = try await session(id)
        guard let containerID = found.containerID else {
            throw SessionManagerError(.notFound, "session \(id) has no container", sessionID: id)
        }
        do {
            return try await engine.terminalLogs(containerID, tail: tail)
        } catch let error as DockerError where error.code == .notFound {
            throw SessionManagerError(.notFound, "the container of session \(id) is gone", sessionID: id)
        }
    }

    /// The event log (`/v1/events`).
    public nonisolated var events: EventLogReader { EventLogReader(store: store) }

    /// Throws unless the engine answers `/_ping` (readiness and the systemd watchdog).
    public nonisolated func checkEngine() async throws {
        _ = try await engine.ping()
    }

    /// Throws unless the store takes a write (readiness and the systemd watchdog).
    public nonisolated func checkStore() async throws {
        try await store.checkWritable()
    }

    /// A consistent snapshot of the session database (SQLite's online backup), as bytes.
    public nonisolated func backup() async throws -> Data {
        do {
            return try await store.backupData()
        } catch {
            throw SessionManagerError.store(error, "backing up the session database")
        }
    }

    /// This daemon's containers that no session wants, removed unless `dryRun`. The same rule as
    /// reconciliation, which does the removing (and leaves launches in flight and the warm pool's
    /// ready containers alone). Other daemons' containers are counted, never touched.
    public func collectGarbage(dryRun: Bool) async throws -> GarbageReport {
        var filters = DockerFilters()
        filters.label(SandcastleLabels.managed, "true")
        let everyDaemon = try await engine.listContainers(all: true, filters: filters).count
        let survey = try await surveyEngine()
        var wanted = Set<String>()
        for session in try await store.sessions(inStates: SessionState.live.union([.exited])) {
            if let container = survey.bySession[session.id] { wanted.insert(container.id) }
        }
        let orphans = orphans(in: survey, wanted: wanted, startup: false)
        var removed: [String] = []
        if !dryRun, !orphans.isEmpty {
            let orphanIDs = Set(orphans.map(\.id))
            removed = try await reconcile(startup: false).removedOrphans.filter(orphanIDs.contains)
        }
        return GarbageReport(
            dryRun: dryRun,
            orphans: orphans.map {
                .init(
                    id: $0.id, name: $0.names.first.map { String($0.drop(while: { $0 == "/" })) } ?? "",
                    session: $0.labels?[SandcastleLabels.session], state: $0.state)
            },
            removed: removed, otherInstances: everyDaemon - survey.containers.count)
    }
}

/// What `collectGarbage` found and did (`POST /v1/admin/gc`).
public struct GarbageReport: Codable, Sendable, Equatable {
    public struct Container: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var session: String?
        public var state: String
    }

    public var dryRun: Bool
    public var orphans: [Container]
    public var removed: [String]
    /// Containers of other Sandcastle daemons on the same engine.
    public var otherInstances: Int
}

/// The store's event log, for followers: what `/v1/events` streams.
public struct EventLogReader: Sendable {
    let store: SessionStore

    /// The newest event's id (0 for an empty log): where a new follower starts.
    public func latestEventID() async throws -> Int64 {
        try await store.latestEventID()
    }

    /// Up to `limit` events after `id`, oldest first.
    public func events(after id: Int64, limit: Int = 500) async throws -> [Event] {
        try await store.events(after: id, limit: limit)
    }

    /// Like ``events(after:limit:)``, but waits until there is at least one.
    public func next(after id: Int64) async throws -> [Event] {
        try await store.waitForEvents(after: id)
    }
}
