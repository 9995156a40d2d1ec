import DockerEngine
import Foundation
import SandboxPolicy
import SessionStore

/// What ``SessionManager/reconcile()`` found and did.
public struct ReconcileReport: Sendable, Equatable, CustomStringConvertible {
    /// Running containers whose sessions were adopted again.
    public var adopted: [String] = []
    /// Sessions whose containers had ended (or vanished) while nobody watched.
    public var exited: [String] = []
    /// Launches a crash interrupted, rolled back to `failed`.
    public var rolledBack: [String] = []
    /// Containers with this daemon's labels and no session that wants them, removed.
    public var removedOrphans: [String] = []

    public var description: String {
        "adopted \(adopted.count), exited \(exited.count), rolled back \(rolledBack.count), removed \(removedOrphans.count) orphan container(s)"
    }
}

extension SessionManager {
    /// The filter for this daemon's containers.
    var ownContainers: DockerFilters {
        var filters = DockerFilters()
        filters.label(SandcastleLabels.managed, "true")
        filters.label(SandcastleLabels.instance, configuration.daemonInstance)
        return filters
    }

    /// Brings the store and the engine into agreement, at start-up (`startup: true`) and after the
    /// engine's event stream was broken (`startup: false`, where launches in flight are left alone).
    ///
    /// - rows left `creating`/`starting` by a crash: a running container is adopted, anything else
    ///   is rolled back (`failed`, container removed);
    /// - `running`/`stopping` rows whose container ended or is gone become `exited` (reason from
    ///   the engine, `lost` when gone);
    /// - containers with this daemon's labels and no live session are removed (and logged).
    ///
    /// - Parameter engineMayHaveRestarted: the event stream broke, so the engine may have restarted
    ///   in between: containers found killed are recorded with reason `engine-restart` (without the
    ///   engine's `live-restore`, a restart kills every container).
    @discardableResult
    public func reconcile(startup: Bool = true, engineMayHaveRestarted: Bool = false) async throws -> ReconcileReport {
        var report = ReconcileReport()
        let survey = try await surveyEngine()
        var wanted = Set<String>()
        var interruptedStops: [(String, ExitReason)] = []
        for listed in try await store.sessions(inStates: SessionState.live) {
            let container = survey.bySession[listed.id]
            if !startup && isLaunching(listed.id) {
                if let container { wanted.insert(container.id) }
                continue
            }
            var session = listed
            if !startup {
                // The listing may predate a launch that ended since (it is no longer in flight, so
                // its last write has committed): judge the session as it is now.
                guard let current = try await store.session(id: listed.id), SessionState.live.contains(current.state) else {
                    continue
                }
                session = current
            }
            do {
                let kept = try await reconcile(
                    session, container: container, engineMayHaveRestarted: engineMayHaveRestarted, report: &report,
                    interruptedStops: &interruptedStops)
                if kept, let container { wanted.insert(container.id) }
            } catch let error as SessionStoreError where error.code == .illegalTransition {
                // A request or an engine event changed the session first; it has said what
                // happened, and the rest of the pass still needs doing.
                if let container { wanted.insert(container.id) }
                logger.debug(
                    "resynchronising left a session that changed meanwhile",
                    metadata: ["session.id": "\(session.id)", "error": "\(error)"])
            }
        }
        // Exited sessions keep their (stopped) container until removal.
        for session in try await store.sessions(inStates: [.exited]) {
            if let container = survey.bySession[session.id] { wanted.insert(container.id) }
        }
        for container in orphans(in: survey, wanted: wanted, startup: startup) {
            logger.warning(
                "removing a container of this daemon that no session wants",
                metadata: [
                    "container.id": "\(container.id.prefix(12))", "container.name": "\(container.names.first ?? "")",
                    "session.id": "\(container.labels?[SandcastleLabels.session] ?? "none")",
                ])
            do {
                try await engine.removeContainer(container.id, force: true, removeVolumes: true)
            } catch let error as DockerError where error.code == .notFound {
            }
            report.removedOrphans.append(container.id)
        }
        // Stops a crash interrupted are finished, concurrently: each may take the grace period.
        await withTaskGroup(of: Void.self) { group in
            for (id, reason) in interruptedStops {
                group.addTask { _ = try? await self.stop(id, reason: reason) }
            }
        }
        if startup, let pool {
            try await pool.reconcile()
        }
        if startup {
            logger.info("reconciled with the engine", metadata: ["report": "\(report)"])
        } else {
            // Right after start-up the event stream's first connection finds what start-up just
            // reconciled: say so only when it changed something, and never in start-up's words.
            logger.log(
                level: report == ReconcileReport() ? .debug : .notice, "resynchronised with the engine's events",
                metadata: ["report": "\(report)"])
        }
        return report
    }

    /// One live session against its container (nil: none found); returns whether the container
    /// is still wanted.
    @discardableResult
    private func reconcile(
        _ session: Session, container: ContainerSummary?, engineMayHaveRestarted: Bool, report: inout ReconcileReport,
        interruptedStops: inout [(String, ExitReason)]
    ) async throws -> Bool {
        let alive = container.map { ["running", "restarting", "paused"].contains($0.state) } ?? false
        switch session.state {
        case .creating, .starting:
            // A claim the crash interrupted cannot be finished: the gate's stream is gone.
            if let container, container.state == "running", session.poolSlot == nil {
                try await adopt(session, containerID: container.id)
                report.adopted.append(session.id)
                return true
            }
            try await rollBack(session, containerID: container?.id)
            report.rolledBack.append(session.id)
            return false
        case .running, .stopping:
            if let container, alive {
                if session.state == .stopping {
                    interruptedStops.append((session.id, session.exitReason ?? .stopped))
                } else if session.containerID != container.id {
                    try await store.update(id: session.id) { $0.containerID = container.id }
                }
                report.adopted.append(session.id)
                return true
            }
            // Without a container in the listing, the one the row names is asked: the listing
            // can predate the start of a session launched meanwhile.
            let after = try await finishExit(
                id: session.id, containerID: container?.id ?? session.containerID, fallbackReason: .lost,
                killedReason: engineMayHaveRestarted ? .engineRestart : .killed)
            if after.state == .exited {
                report.exited.append(session.id)
            } else {
                report.adopted.append(session.id)
            }
            return container != nil
        default:
            return false
        }
    }

    /// This daemon's containers as the engine lists them, by the session each belongs to.
    struct EngineSurvey {
        /// Every container of this daemon.
        var containers: [ContainerSummary] = []
        var bySession: [String: ContainerSummary] = [:]
        /// Pool containers no claimed slot accounts for: ready ones, or stale after a restart.
        var unclaimedPoolContainers = Set<String>()
    }

    func surveyEngine() async throws -> EngineSurvey {
        var survey = EngineSurvey(containers: try await engine.listContainers(all: true, filters: ownContainers))
        // A pool container has no session label: its claimed slot names the session.
        let claimedSlots = pool == nil ? [] : try await store.poolSlots().filter { $0.state == .claimed }
        var sessionOfContainer: [String: String] = [:]
        for slot in claimedSlots {
            if let container = slot.containerID, let session = slot.sessionID { sessionOfContainer[container] = session }
        }
        for container in survey.containers {
            if let session = container.labels?[SandcastleLabels.session] {
                survey.bySession[session] = container
            } else if container.labels?[LaunchSpec.poolSlotLabel] != nil {
                if let session = sessionOfContainer[container.id] {
                    survey.bySession[session] = container
                } else {
                    survey.unclaimedPoolContainers.insert(container.id)
                }
            }
        }
        return survey
    }

    /// The containers of `survey` that no session wants. Outside start-up, ready pool containers
    /// belong to the running pool and launches in flight keep theirs.
    func orphans(in survey: EngineSurvey, wanted: Set<String>, startup: Bool) -> [ContainerSummary] {
        survey.containers.filter { container in
            if wanted.contains(container.id) { return false }
            if !startup, survey.unclaimedPoolContainers.contains(container.id) { return false }
            if !startup, let session = container.labels?[SandcastleLabels.session], isLaunching(session) { return false }
            return true
        }
    }

    private func adopt(_ session: Session, containerID: String) async throws {
        if session.state == .creating {
            try await store.transition(id: session.id, from: [.creating], to: .starting) { $0.containerID = containerID }
        }
        try await store.transition(
            id: session.id, from: [.starting], to: .running, at: clock.now(),
            event: NewEvent(type: .sessionStarted, sessionID: session.id, payload: Self.payload(["containerID": containerID]))
        ) { $0.containerID = containerID }
    }

    private func rollBack(_ session: Session, containerID: String?) async throws {
        if let containerID {
            do {
                try await engine.removeContainer(containerID, force: true, removeVolumes: true)
            } catch let error as DockerError where error.code == .notFound {
            }
        }
        let message = "the daemon stopped before the launch finished; create the session again"
        try await store.transition(
            id: session.id, from: [.creating, .starting], to: .failed, at: clock.now(),
            event: NewEvent(type: .sessionFailed, sessionID: session.id, payload: Self.payload(["error": message]))
        ) {
            $0.error = message
            $0.exitReason = .failed
        }
    }

    // MARK: - Engine events

    /// Follows the engine's events for this daemon's containers until cancelled; after every
    /// (re)connection it reconciles, so an exit that happened while the stream was down is found.
    public func followEngineEvents() async {
        var filters = ownContainers
        filters.values["type"] = ["container"]
        filters.values["event"] = EngineEventFollower.actions
        let follower = EngineEventFollower(engine: engine, filters: filters, logger: logger)
        await follower.run(
            onConnected: { reconnected in
                do {
                    try await self.reconcile(startup: false, engineMayHaveRestarted: reconnected)
                } catch {
                    self.logger.warning("resynchronising with the engine failed", metadata: ["error": "\(error)"])
                }
            },
            onEvent: { event in await self.handle(event) })
    }

    /// Applies one engine event. Idempotent: an event seen twice, or one whose effect a listing
    /// already recorded, changes nothing.
    public func handle(_ event: DockerEvent) async {
        guard event.type == "container" else { return }
        let containerID = event.actor.id
        var label = event.actor.attributes?[SandcastleLabels.session]
        if label == nil, event.actor.attributes?[LaunchSpec.poolSlotLabel] != nil {
            // A pool container: its session, if claimed, is the one holding its container id.
            label = (try? await store.session(containerID: containerID))?.id
            if label == nil, event.action == "die" || event.action == "destroy" {
                await pool?.containerEnded(containerID)
                return
            }
        }
        guard let sessionID = label else { return }
        do {
            switch event.action {
            case "oom":
                oomContainers.insert(containerID)
            case "die":
                guard let session = try await store.session(id: sessionID), session.containerID == containerID || session.containerID == nil
                else { return }
                if isLaunching(sessionID) && session.state == .creating { return }
                try await finishExit(id: sessionID, containerID: containerID)
            case "destroy":
                oomContainers.remove(containerID)
                guard let session = try await store.session(id: sessionID), session.containerID == containerID,
                    SessionState.live.contains(session.state)
                else { return }
                try await finishExit(id: sessionID, containerID: nil, fallbackReason: .removed)
            default:
                break
            }
        } catch {
            logger.warning(
                "handling an engine event failed",
                metadata: ["event.action": "\(event.action)", "session.id": "\(sessionID)", "error": "\(error)"])
        }
    }
}
