import AccessControl
import Crypto
import DockerEngine
import Foundation
import JSONText
import Logging
import SandboxPolicy
import SessionStore
import Workspaces

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
        /// Between SIGTERM and SIGKILL when a session is stopped.
        public var stopGrace: Duration
        /// How often the reaper looks for sessions past their TTL or idle timeout.
        public var reapInterval: Duration

        public init(daemonInstance: String, stopGrace: Duration = .seconds(10), reapInterval: Duration = .seconds(5)) {
            self.daemonInstance = daemonInstance
            self.stopGrace = stopGrace
            self.reapInterval = reapInterval
        }
    }

    public let configuration: Configuration
    /// The engine, usually a ``LimitedEngine`` shared with the warm pool.
    let engine: any ContainerEngine
    let store: SessionStore
    /// The policies in force; SIGHUP replaces them. Running sessions keep the limits they were
    /// launched with.
    public nonisolated let policies: Swappable<PolicySet>
    let workspaces: WorkspaceResolver
    /// Enforces profiles' `workspace_size`; without one such profiles are refused.
    let sizeLimiter: (any WorkspaceSizeLimiter)?
    /// The warm pool, when the daemon has one: sessions are claimed from it before launching cold.
    let pool: WarmPool?
    /// Where terminals live. With none, claims close the gate's stream and containers are started
    /// unattached.
    let terminals: (any SessionTerminals)?
    /// Terminal, exec and egress activity, and viewers, for the idle reaper.
    public nonisolated let activity: SessionActivity
    /// The egress proxy, when the daemon has one: sessions whose profile lists egress need it.
    let egress: (any SessionEgress)?
    let launcher: SandboxLauncher
    let clock: any SessionClock
    let logger: Logger

    /// Creates in flight in this process, by session id, from before the insert to the end of the
    /// launch, each with its workspace and who waits for it to end (``waitForCreate(of:)``): one
    /// per id at a time. A resync, a removal or a second request for the id waits for it or leaves
    /// its row alone: the row is visible (`creating`, no container) before the launch has anything
    /// to show. A workspace with a create in flight is not deleted.
    var creating: [String: CreateInFlight] = [:]

    struct CreateInFlight {
        let workspace: String
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Workspaces being deleted by a removal (`deleteWorkspace`): no session is created on them.
    var deletingWorkspaces: Set<String> = []

    /// Whether a create of `id` is in flight in this process (its row may be `creating` or
    /// `starting` with no container yet). Its launch, if any, runs within it.
    func isLaunching(_ id: String) -> Bool {
        creating[id] != nil
    }

    /// Returns once no create of `id` is in flight.
    func waitForCreate(of id: String) async {
        while creating[id] != nil {
            await withCheckedContinuation { waiter in
                if creating[id] != nil { creating[id]!.waiters.append(waiter) } else { waiter.resume() }
            }
        }
    }

    /// Containers the engine reported OOM for; their `die` is recorded as `oom`.
    var oomContainers: Set<String> = []

    public init(
        configuration: Configuration, engine: any ContainerEngine, store: SessionStore, policies: Swappable<PolicySet>,
        workspaces: WorkspaceResolver, sizeLimiter: (any WorkspaceSizeLimiter)? = nil, pool: WarmPool? = nil,
        terminals: (any SessionTerminals)? = nil, activity: SessionActivity? = nil, egress: (any SessionEgress)? = nil,
        clock: any SessionClock = SystemSessionClock(), logger: Logger = Logger(label: "sandcastle.sessions")
    ) {
        self.egress = egress
        self.configuration = configuration
        self.engine = engine
        self.store = store
        self.policies = policies
        self.workspaces = workspaces
        self.sizeLimiter = sizeLimiter
        self.pool = pool
        self.terminals = terminals
        self.activity = activity ?? SessionActivity(clock: clock)
        self.launcher = SandboxLauncher(engine: engine, logger: logger)
        self.clock = clock
        self.logger = logger
    }

    /// Records activity (terminal input or output, an exec, an egress connection) for idle
    /// reaping. Cheap: kept in memory and written to the store in batches by the reaper.
    public nonisolated func noteActivity(_ id: String) {
        activity.touch(id)
    }

    /// The container's terminal, attached before the container starts, when a terminal host takes
    /// it: the first byte it prints reaches the relay's scrollback, and no viewer depends on the
    /// engine replaying its log beside the live stream, a seam where output can come twice or not
    /// at all.
    func attachBeforeStart(_ containerID: String) async throws -> TerminalStream? {
        guard terminals != nil else { return nil }
        return try await engine.attachTerminalStream(containerID)
    }

    /// Gives the stream of a session that started attached to its terminal host.
    func handOver(_ session: Session, _ stream: TerminalStream) async {
        if let terminals {
            await terminals.adopt(session, stream: stream)
        } else {
            await stream.close()
        }
    }

    /// Tells the terminal host that `session` ended.
    func ended(_ session: Session) async {
        await terminals?.ended(session)
        await egress?.suspend(sessionID: session.id)
    }

    /// The container name of session `id`: deterministic, so a crashed launch's container is found.
    public static func containerName(for id: String) -> String {
        "sandcastle-\(id)"
    }

    // MARK: - Create

    /// Creates a session and launches its container; returns once it runs (or failed), and
    /// whether this call created it.
    ///
    /// Idempotent on `id`: the same request under the same id returns the same session (waiting for
    /// its launch if one is in flight) with `created` false; a different request under that id is
    /// a `conflict`. `id` must already satisfy ``SessionID/isValid(_:)`` (the API checks it).
    ///
    /// - Throws: ``SessionManagerError`` `rejected` with the policy's problems, `conflict`,
    ///   `storageUnavailable` when the store cannot write; `launchFailed` when the engine refused,
    ///   with the session left `failed` and no container behind.
    @discardableResult
    public func create(id requestedID: String? = nil, request: SessionLaunchRequest, owner: String) async throws
        -> (session: Session, created: Bool)
    {
        let id = requestedID ?? SessionID.generate()
        let approved: ApprovedSession
        do {
            approved = try policies.current.approve(request)
        } catch {
            throw SessionManagerError(.rejected, error.description, sessionID: id, underlying: error)
        }
        if let refusal = Self.unenforceableLimits(approved.profile, sizeLimiter) {
            throw SessionManagerError(.rejected, refusal, sessionID: id)
        }
        let hash = Self.requestHash(request, owner: owner)

        let now = clock.now()
        let row = Session(
            id: id, labels: request.labels, owner: owner, profile: approved.profile.name,
            image: approved.image.description, command: request.command, env: request.env,
            workspace: request.workspace, workspaceUID: 0, containerName: Self.containerName(for: id),
            requestHash: hash, daemonInstance: configuration.daemonInstance, createdAt: now,
            ttlSeconds: approved.ttlSeconds, idleTimeoutSeconds: approved.idleTimeoutSeconds)
        // One create of an id at a time: the same request sent twice at once waits for the first
        // to end, then finds its session; were both to race to the insert, the second could find
        // the row before the first had started its launch, and answer with it half made.
        await waitForCreate(of: id)
        guard !deletingWorkspaces.contains(request.workspace) else {
            throw SessionManagerError(
                .conflict, "workspace \(request.workspace) is being deleted by a session's removal; create the session once it is gone",
                sessionID: id)
        }
        creating[id] = CreateInFlight(workspace: request.workspace)
        defer {
            for waiter in creating.removeValue(forKey: id)?.waiters ?? [] { waiter.resume() }
        }
        // A warm slot is taken before the insert, so that the insert claims it too.
        let reserved = await pool?.reserve(for: approved)
        let inserted: InsertResult
        do {
            // One transaction: an existing id is found, the workspace's uid allocated (or read),
            // the session and its event recorded, the reserved slot claimed.
            inserted = try await store.insertSession(
                row, allocatingUIDFrom: approved.profile.uids.candidates(forWorkspace: request.workspace),
                event: NewEvent(type: .sessionCreated, sessionID: id, time: now, payload: Self.payload(row)),
                claimingPoolSlot: reserved?.slot)
        } catch {
            if let reserved { await pool?.putBack(reserved) }
            throw SessionManagerError.store(error, "recording session \(id)", sessionID: id)
        }
        switch inserted {
        case .existing(let found):
            if let reserved { await pool?.putBack(reserved) }
            return (try existingSession(found, hash: hash), false)
        case .inserted(let session):
            var claimed: WarmPool.ReservedSlot?
            if let reserved {
                // Not claimed: the slot was retired meanwhile; the session launches cold.
                if session.poolSlot == reserved.slot.id { claimed = reserved } else { await pool?.discard(reserved) }
            }
            // A task of its own: a caller that goes away (its HTTP request cancelled) must not
            // cancel the launch half-way.
            let task = Task { [claimed] in
                try await self.launch(session, approved: approved, uid: UInt32(session.workspaceUID), claimed: claimed)
            }
            return (try await task.value, true)
        }
    }

    /// The session `found` under the id of a new request when it was made by the same request.
    /// No launch of it is in flight: creates of one id run one at a time.
    private func existingSession(_ found: Session, hash: String) throws -> Session {
        guard found.requestHash == hash else {
            throw SessionManagerError(
                .conflict,
                "session '\(found.id)' already exists with a different request; use a new id, or send the same request to get the existing session",
                sessionID: found.id)
        }
        return found
    }

    /// Creates, verifies and starts the container of a recorded session, or delivers it to the
    /// pool slot it `claimed` when it was inserted.
    private func launch(
        _ session: Session, approved: ApprovedSession, uid: UInt32, claimed: WarmPool.ReservedSlot?
    ) async throws -> Session {
        let id = session.id
        var containerID: String?
        // The claimed slot's gate stream until the delivery below takes it: a failure before
        // that closes it (the slot itself is released through the store's record of the claim).
        var stream: TerminalStream? = claimed?.stream
        do {
            let user = WorkspaceUser(uid: uid)
            var workspace = try await workspaces.resolve(session.workspace, creatingFor: user)
            let limits = WorkspaceLimits(approved.profile)
            var mount = WorkspaceMount(hostPath: workspace.path)
            if let sizeLimiter, !sizeLimiter.mountsOnWorkspace {
                // Project quotas: every workspace is accounted, limited or not, pool or not.
                mount = try await sizeLimiter.limit(workspace, to: limits, use: .session) ?? mount
            }
            if let claimed, let pool {
                stream = nil
                return try await deliver(session, to: claimed, of: pool, approved: approved, workspace: workspace, user: user)
            }
            pool?.launchingCold(profile: approved.profile.name)
            if let sizeLimiter, sizeLimiter.mountsOnWorkspace,
                let limited = try await sizeLimiter.limit(workspace, to: limits, use: .session)
            {
                mount = limited
                // The directory is now the root of the workspace's own filesystem: resolve again,
                // so the read-back compares the container with what is really there.
                workspace = try await workspaces.resolve(session.workspace, creatingFor: user)
            }
            let egressMount = try await openEgress(session, approved: approved, uid: uid)
            var config = try LaunchSpec.containerConfig(
                for: approved, workspace: mount, user: user, sessionID: id, egress: egressMount)
            config.labels?[SandcastleLabels.instance] = configuration.daemonInstance
            let created = try await createContainer(
                name: session.containerName, config: config, workspace: workspace, sessionID: id, egress: egressMount)
            containerID = created
            // The attach does not order against the store: it overlaps the write that records the
            // container (which must commit before the start, so that reconciliation finds it).
            async let attached = attachBeforeStart(created)
            do {
                try await store.transition(id: id, from: [.creating], to: .starting) { $0.containerID = created }
            } catch {
                await (try? attached)?.close()
                throw error
            }
            stream = try await attached
            try await engine.startContainer(created)
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
                try? await engine.removeContainer(containerID, force: true, removeVolumes: true)
            }
            await egress?.remove(sessionID: id)
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

    /// A session that claimed warm-pool slot `reserved` when it was inserted (it is `starting` in
    /// the slot's container), delivered to it and recorded `running`. No engine call. The pool
    /// hands over a ready container; the session's state is written here, as everywhere, by the
    /// manager.
    private func deliver(
        _ session: Session, to reserved: WarmPool.ReservedSlot, of pool: WarmPool, approved: ApprovedSession,
        workspace: ResolvedWorkspace, user: WorkspaceUser
    ) async throws -> Session {
        // The slot binds an egress directory of its own: the session's socket opens in it.
        do {
            _ = try await openEgress(session, approved: approved, uid: user.uid, in: reserved.egress?.socketDirectory)
        } catch {
            await pool.discard(reserved)
            throw error
        }
        let stream = try await pool.deliver(
            reserved, workspace: workspace, user: user, request: approved.request, egress: !approved.egress.isEmpty)
        let running: Session
        do {
            running = try await store.transition(
                id: session.id, from: [.starting], to: .running, at: clock.now(),
                event: NewEvent(
                    type: .sessionStarted, sessionID: session.id,
                    payload: Self.payload(["containerID": session.containerID ?? "", "poolSlot": reserved.slot.id])))
        } catch {
            await stream.close()
            throw error
        }
        await handOver(running, stream)
        return running
    }

    /// Creates the container; a container left under the same name by an interrupted launch of
    /// this same session is removed first.
    private func createContainer(
        name: String, config: ContainerConfig, workspace: ResolvedWorkspace, sessionID: String, egress: EgressMount?
    ) async throws -> String {
        do {
            return try await launcher.create(name: name, config: config, workspace: workspace, egress: egress)
        } catch let error as DockerError where error.code == .conflict {
            let leftover = try await engine.inspectContainer(name)
            guard leftover.config?.labels?[SandcastleLabels.session] == sessionID else { throw error }
            logger.info("removing a container left by an interrupted launch", metadata: ["session.id": "\(sessionID)"])
            try await engine.removeContainer(leftover.id, force: true, removeVolumes: true)
            return try await launcher.create(name: name, config: config, workspace: workspace, egress: egress)
        }
    }

    // MARK: - Helpers

    /// SHA-256 over the request's canonical JSON and the owner: equal requests, equal hashes.
    static func requestHash(_ request: SessionLaunchRequest, owner: String) -> String {
        var data = canonicalForm(request)
        data.append(0)
        data.append(contentsOf: owner.utf8)
        return ByteEncoding.hex(SHA256.hash(data: data))
    }

    /// The request as JSON with sorted keys, the absent optional fields left out: the text
    /// `JSONEncoder` gave it (`.sortedKeys`, `.withoutEscapingSlashes`) when the stored hashes were
    /// first made, so it must never change. Every field of the request is in it.
    static func canonicalForm(_ request: SessionLaunchRequest) -> [UInt8] {
        var text = JSONText()
        text.beginObject()
        text.member("capabilities", request.capabilities)
        text.member("command", request.command)
        text.member("egress", request.egress)
        text.member("env", request.env)
        text.member("idleTimeoutSeconds", request.idleTimeoutSeconds)
        text.member("image", request.image)
        text.member("labels", request.labels)
        text.member("profile", request.profile)
        text.member("ttlSeconds", request.ttlSeconds)
        text.member("workspace", request.workspace)
        text.endObject()
        return text.bytes
    }

    /// An event's payload: a JSON object of strings, keys sorted.
    static func payload(_ values: [String: String]) -> String {
        JSONText.stringMap(values, escapingSlashes: true)
    }

    /// The `session.created` payload: what was asked, without the environment's values.
    static func payload(_ session: Session) -> String {
        var text = JSONText(escapingSlashes: true)
        text.beginObject()
        text.member("image", session.image)
        text.member("labels", session.labels)
        text.member("owner", session.owner)
        text.member("profile", session.profile)
        text.member("workspace", session.workspace)
        text.endObject()
        return text.text
    }
}
