import Crypto
import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import SessionStore

/// The session manager: the lifecycle of every session, from the web tier's request to the
/// container's removal.
///
/// Every state change is a compare-and-set in the store (``SessionStore/transition(id:from:to:at:event:mutate:)``),
/// so concurrent requests, engine events and the reaper can race without corrupting a session, and
/// each change appends its event in the same transaction.
///
/// Crash safety: a session's row is written (state `creating`, with a deterministic container name
/// and labels naming the session and this daemon instance) before the engine is asked for anything.
/// Whatever a crash interrupts, the next start's ``reconcile()`` finds it from the row or from the
/// labels: nothing is orphaned and nothing is forgotten.
public actor SessionManager {
    public struct Configuration: Sendable {
        /// This daemon's identity; containers carry it in a label and reconciliation touches only
        /// its own. Keep it stable across restarts.
        public var daemonInstance: String
        /// Engine calls in flight at once; the rest wait in arrival order.
        public var engineConcurrency: Int
        /// Between SIGTERM and SIGKILL when a session is stopped.
        public var stopGrace: Duration
        /// How often the reaper looks for sessions past their TTL or idle timeout.
        public var reapInterval: Duration

        public init(
            daemonInstance: String, engineConcurrency: Int = 8, stopGrace: Duration = .seconds(10),
            reapInterval: Duration = .seconds(5)
        ) {
            self.daemonInstance = daemonInstance
            self.engineConcurrency = engineConcurrency
            self.stopGrace = stopGrace
            self.reapInterval = reapInterval
        }
    }

    public let configuration: Configuration
    let engine: any ContainerEngine
    let store: SessionStore
    private(set) var policies: PolicySet
    let workspaces: WorkspaceResolver
    /// Enforces profiles' `workspace_size`; without one such profiles are refused.
    let sizeLimiter: (any WorkspaceSizeLimiter)?
    let limiter: EngineLimiter
    let launcher: SandboxLauncher
    let clock: any SessionClock
    let logger: Logger

    /// Launches in flight in this process, by session id: a second identical request waits on the
    /// first instead of launching again.
    var launches: [String: Task<Session, any Error>] = [:]
    /// Terminal activity not yet written to the store (coalesced; flushed by the reaper).
    var pendingActivity: [String: Date] = [:]
    /// Attached viewers per session (from the terminal relay): a watched session is never idle.
    var viewers: [String: Int] = [:]
    /// Containers the engine reported OOM for; their `die` is recorded as `oom`.
    var oomContainers: Set<String> = []
    /// Told of every session that ended (exited or removed), after the store recorded it: the
    /// terminal relay sends its viewers the exit frame.
    var endObserver: (@Sendable (Session) async -> Void)?
    /// The warm pool, when the daemon has one: sessions are claimed from it before launching cold.
    var pool: WarmPool?
    /// Told of every session that starts with its terminal already attached, with the stream
    /// (the terminal relay takes it as the session's attachment): a warm-pool claim (the gate's
    /// stream), or a container attached before it was started. Without one, claims close the
    /// stream and containers are started unattached.
    var attachmentObserver: (@Sendable (Session, HijackedStream) async -> Void)?

    public init(
        configuration: Configuration, engine: any ContainerEngine, store: SessionStore, policies: PolicySet,
        workspaces: WorkspaceResolver, sizeLimiter: (any WorkspaceSizeLimiter)? = nil,
        clock: any SessionClock = SystemSessionClock(), logger: Logger = Logger(label: "sandcastle.sessions")
    ) {
        self.sizeLimiter = sizeLimiter
        self.configuration = configuration
        self.engine = engine
        self.store = store
        self.policies = policies
        self.workspaces = workspaces
        self.limiter = EngineLimiter(limit: configuration.engineConcurrency)
        self.launcher = SandboxLauncher(engine: engine, logger: logger)
        self.clock = clock
        self.logger = logger
    }

    /// Sets who is told when a session ends.
    public func observeEnds(_ observer: @escaping @Sendable (Session) async -> Void) {
        endObserver = observer
    }

    /// Creates the warm pool on this manager's engine, store, engine limiter and policies, and
    /// claims sessions from it from now on (reconciliation covers its slots too).
    public func makePool(
        configuration: WarmPool.Configuration, mounter: any SlotMounter, metrics: any PoolMetrics = NoPoolMetrics(),
        logger: Logger = Logger(label: "sandcastle.pool")
    ) -> WarmPool {
        let pool = WarmPool(
            configuration: configuration, engine: engine, store: store, mounter: mounter, limiter: limiter,
            policies: { [weak self] in await self?.policies ?? PolicySet(directory: "", profiles: [:]) }, metrics: metrics, logger: logger)
        self.pool = pool
        return pool
    }

    /// Sets who receives the attach stream of a session that starts attached (see
    /// `attachmentObserver`).
    public func observeAttachments(_ observer: @escaping @Sendable (Session, HijackedStream) async -> Void) {
        attachmentObserver = observer
    }

    /// The container's terminal, attached before the container starts, when someone takes it
    /// (`attachmentObserver`): the first byte it prints reaches the relay's scrollback, and no
    /// viewer depends on the engine replaying its log beside the live stream, a seam where output
    /// can come twice or not at all.
    func attachBeforeStart(_ containerID: String) async throws -> HijackedStream? {
        guard attachmentObserver != nil else { return nil }
        return try await limiter.run { try await engine.attachTerminalStream(containerID) }
    }

    /// Gives the stream of a session that started attached to `attachmentObserver`.
    func handOver(_ session: Session, _ stream: HijackedStream) async {
        if let attachmentObserver {
            await attachmentObserver(session, stream)
        } else {
            await stream.close()
        }
    }

    /// The current policies (the warm pool builds its containers from them).
    public func currentPolicies() -> PolicySet { policies }

    /// Replaces the policies (SIGHUP). Running sessions keep the limits they were launched with.
    public func updatePolicies(_ policies: PolicySet) {
        self.policies = policies
    }

    /// The container name of session `id`: deterministic, so a crashed launch's container is found.
    public static func containerName(for id: String) -> String {
        "sandcastle-\(id)"
    }

    // MARK: - Create

    /// Creates a session and launches its container; returns once it runs (or failed).
    ///
    /// Idempotent on `id`: the same request under the same id returns the same session (waiting for
    /// its launch if one is in flight); a different request under that id is a `conflict`.
    ///
    /// - Throws: ``SessionManagerError`` `rejected` with the policy's problems, `conflict`,
    ///   `storageUnavailable` when the store cannot write; `launchFailed` when the engine refused,
    ///   with the session left `failed` and no container behind.
    public func create(id requestedID: String? = nil, request: SessionLaunchRequest, owner: String) async throws
        -> Session
    {
        let id = requestedID ?? SessionID.generate()
        guard SessionID.isValid(id) else {
            throw SessionManagerError(
                .rejected, "session id '\(id.prefix(64))' is not valid: use 1 to \(SessionID.maximumLength) of [A-Za-z0-9._-]")
        }
        let approved: ApprovedSession
        do {
            approved = try policies.approve(request)
        } catch {
            throw SessionManagerError(.rejected, error.description, sessionID: id, underlying: error)
        }
        if let bytes = approved.profile.workspaceSizeBytes, sizeLimiter == nil {
            throw SessionManagerError(
                .rejected,
                "profile \(approved.profile.name) limits the workspace to \(bytes) bytes (workspace_size), and this daemon "
                    + "has no workspace size limiter configured; use another profile or enable the limiter",
                sessionID: id)
        }
        let hash = Self.requestHash(request, owner: owner)

        if let existing = try await existingSession(id: id, hash: hash) { return existing }

        let uid: UInt32
        do {
            uid = try await store.workspaceUID(
                for: request.workspace, candidates: approved.profile.uids.candidates(forWorkspace: request.workspace))
        } catch {
            throw SessionManagerError.store(error, "allocating a uid for workspace \(request.workspace)", sessionID: id)
        }
        let now = clock.now()
        let row = Session(
            id: id, labels: request.labels, owner: owner, profile: approved.profile.name,
            image: approved.image.description, command: request.command, env: request.env,
            workspace: request.workspace, workspaceUID: Int(uid), containerName: Self.containerName(for: id),
            requestHash: hash, daemonInstance: configuration.daemonInstance, createdAt: now,
            ttlSeconds: approved.ttlSeconds, idleTimeoutSeconds: approved.idleTimeoutSeconds)
        let inserted: InsertResult
        do {
            inserted = try await store.insertSession(
                row, event: NewEvent(type: .sessionCreated, sessionID: id, time: now, payload: Self.payload(row)))
        } catch {
            throw SessionManagerError.store(error, "recording session \(id)", sessionID: id)
        }
        switch inserted {
        case .existing:
            // Another request inserted it between our check and our insert.
            if let existing = try await existingSession(id: id, hash: hash) { return existing }
            throw SessionManagerError.notFound(id)
        case .inserted(let session):
            let task = Task { try await self.launch(session, approved: approved, uid: uid) }
            launches[id] = task
            defer { launches[id] = nil }
            return try await task.value
        }
    }

    /// The session under `id` when one exists and was made by the same request (waiting for its
    /// launch when that is still in flight); nil when there is none.
    private func existingSession(id: String, hash: String) async throws -> Session? {
        let found: Session?
        do {
            found = try await store.session(id: id)
        } catch {
            throw SessionManagerError.store(error, "reading session \(id)", sessionID: id)
        }
        guard let found else { return nil }
        guard found.requestHash == hash else {
            throw SessionManagerError(
                .conflict,
                "session '\(id)' already exists with a different request; use a new id, or send the same request to get the existing session",
                sessionID: id)
        }
        if let launch = launches[id] {
            return try await launch.value
        }
        return found
    }

    /// Creates, verifies and starts the container of a recorded session.
    private func launch(_ session: Session, approved: ApprovedSession, uid: UInt32) async throws -> Session {
        let id = session.id
        var containerID: String?
        var stream: HijackedStream?
        do {
            let user = WorkspaceUser(uid: uid)
            if let claimed = try await claimFromPool(session, approved: approved, user: user) { return claimed }
            var workspace = try workspaces.resolve(session.workspace, creatingFor: user)
            var mount = WorkspaceMount(hostPath: workspace.path)
            if let bytes = approved.profile.workspaceSizeBytes, let sizeLimiter {
                mount = try await sizeLimiter.limit(workspace, toBytes: bytes, use: .session)
                // The directory is now the root of the workspace's own filesystem: resolve again,
                // so the read-back compares the container with what is really there.
                workspace = try workspaces.resolve(session.workspace, creatingFor: user)
            }
            var config = try LaunchSpec.containerConfig(for: approved, workspace: mount, user: user, sessionID: id)
            config.labels?[SandcastleLabels.instance] = configuration.daemonInstance
            let created = try await createContainer(name: session.containerName, config: config, workspace: workspace, sessionID: id)
            containerID = created
            try await store.transition(id: id, from: [.creating], to: .starting) { $0.containerID = created }
            stream = try await attachBeforeStart(created)
            try await limiter.run { try await engine.startContainer(created) }
            let running = try await store.transition(
                id: id, from: [.starting], to: .running, at: clock.now(),
                event: NewEvent(type: .sessionStarted, sessionID: id, payload: Self.payload(["containerID": created])))
            if let stream { await handOver(running, stream) }
            return running
        } catch let error as SessionStoreError where error.code == .illegalTransition {
            // An engine event (the container already died) or a removal got there first.
            await stream?.close()
            if let current = try? await store.session(id: id) { return current }
            throw error
        } catch {
            await stream?.close()
            logger.warning("launch failed", metadata: ["session.id": "\(id)", "error": "\(error)"])
            if let pool, (try? await store.session(id: id))?.poolSlot != nil {
                await pool.release(sessionID: id)
            }
            if let containerID {
                try? await limiter.run { try await engine.removeContainer(containerID, force: true, removeVolumes: true) }
            }
            let message = "\(error)"
            _ = try? await store.transition(
                id: id, from: [.creating, .starting], to: .failed, at: clock.now(),
                event: NewEvent(type: .sessionFailed, sessionID: id, payload: Self.payload(["error": message]))
            ) {
                $0.error = message
                $0.exitReason = .failed
            }
            if let rejected = error as? SessionRequestRejected {
                throw SessionManagerError(.rejected, rejected.description, sessionID: id, underlying: error)
            }
            throw SessionManagerError(.launchFailed, "session \(id) failed to launch: \(message)", sessionID: id, underlying: error)
        }
    }

    /// A session claimed from the warm pool, recorded `running`; nil when the pool cannot serve
    /// it (the caller launches cold). No engine call.
    private func claimFromPool(_ session: Session, approved: ApprovedSession, user: WorkspaceUser) async throws -> Session? {
        guard let pool else { return nil }
        let began = ContinuousClock.now
        let workspace = try workspaces.resolve(session.workspace, creatingFor: user)
        guard let claim = try await pool.claim(approved: approved, sessionID: session.id, workspace: workspace, user: user)
        else { return nil }
        let claimed = ContinuousClock.now
        let containerID = claim.session.containerID ?? ""
        let running: Session
        do {
            running = try await store.transition(
                id: session.id, from: [.starting], to: .running, at: clock.now(),
                event: NewEvent(
                    type: .sessionStarted, sessionID: session.id,
                    payload: Self.payload(["containerID": containerID, "poolSlot": claim.session.poolSlot ?? ""])))
        } catch {
            await claim.stream.close()
            throw error
        }
        await handOver(running, claim.stream)
        logger.debug(
            "claimed from the warm pool",
            metadata: [
                "session.id": "\(session.id)", "claim.duration": "\(claimed - began)",
                "total.duration": "\(ContinuousClock.now - began)",
            ])
        return running
    }

    /// Creates the container; a container left under the same name by an interrupted launch of
    /// this same session is removed first.
    private func createContainer(
        name: String, config: ContainerConfig, workspace: ResolvedWorkspace, sessionID: String
    ) async throws -> String {
        do {
            return try await limiter.run { try await launcher.create(name: name, config: config, workspace: workspace) }
        } catch let error as DockerError where error.code == .conflict {
            let leftover = try await limiter.run { try await engine.inspectContainer(name) }
            guard leftover.config?.labels?[SandcastleLabels.session] == sessionID else { throw error }
            logger.info("removing a container left by an interrupted launch", metadata: ["session.id": "\(sessionID)"])
            try await limiter.run { try await engine.removeContainer(leftover.id, force: true, removeVolumes: true) }
            return try await limiter.run { try await launcher.create(name: name, config: config, workspace: workspace) }
        }
    }

    // MARK: - Queries

    public func session(_ id: String) async throws -> Session {
        let found: Session?
        do {
            found = try await store.session(id: id)
        } catch {
            throw SessionManagerError.store(error, "reading session \(id)", sessionID: id)
        }
        guard let found else { throw SessionManagerError.notFound(id) }
        return found
    }

    // MARK: - Helpers

    /// SHA-256 over the request's canonical JSON and the owner: equal requests, equal hashes.
    static func requestHash(_ request: SessionLaunchRequest, owner: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(request)) ?? Data()
        data.append(0)
        data.append(contentsOf: Array(owner.utf8))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func payload(_ values: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(values)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The `session.created` payload: what was asked, without the environment's values.
    static func payload(_ session: Session) -> String {
        struct Created: Encodable {
            var image: String
            var profile: String
            var workspace: String
            var owner: String
            var labels: [String: String]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let value = Created(
            image: session.image, profile: session.profile, workspace: session.workspace, owner: session.owner,
            labels: session.labels)
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
