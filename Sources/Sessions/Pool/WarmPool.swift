import DockerEngine
import Foundation
import Logging
import ServiceLifecycle
import SandboxPolicy
import SessionStore
import Workspaces

/// The warm pool: per profile, containers created, verified and started ahead of time, each
/// running the gate (`Gate/sandcastle-gate.c`) on its terminal, already attached.
///
/// ## A claim, with no engine call
/// The session manager drives it, and alone writes the session's state:
/// 1. ``reserve(for:)`` takes a ready slot of the profile and image out of memory;
/// 2. the manager claims it in the store: one transaction moves the slot to `claimed` by the
///    session and the session to `starting` with the slot's container (a slot serves at most one
///    session, whatever races); a slot retired meanwhile goes back through ``discard(_:)``;
/// 3. ``deliver(_:workspace:user:request:)`` binds the session's workspace (the directory
///    `WorkspaceResolver` opened without following symlinks) onto the slot directory, which the
///    container has at `/workspace` with `rslave` propagation, checks the slot is now that
///    directory, and sends the claim message (uid, gid, cwd, env, command) to the gate over the
///    attach stream kept since the container started; the gate switches to the workspace's uid,
///    drops every capability and execs the command;
/// 4. the manager records the session `running` and hands the stream to the terminal relay as the
///    session's one attachment.
///
/// ## Refill
/// ``run()`` keeps each profile's ready count at its target, creating at most
/// `refillPerMinute` containers a minute per profile, one at a time (the engine, not the pool, is
/// the bottleneck: about 10 launches a second on two cores). A refill waits until claims have
/// paused for ``claimQuietPeriod`` (at most ``maximumRefillDeferral``), so that a burst of claims
/// does not share the CPU with the engine creating their replacements.
///
/// ## Crash safety
/// A slot's row is written before the engine is asked for anything, and its container carries
/// the daemon's labels and the slot's. At start-up ``reconcile()`` retires every slot that was not
/// claimed (the kept attach stream died with the old process, so such a gate can never be claimed)
/// and every slot whose session is gone, unmounts whatever is left mounted on their directories,
/// and the session manager removes pool containers that no claimed slot accounts for.
///
/// Host mounts go through a ``SlotMounter`` on a dedicated thread (never the cooperative pool).
///
/// As a `Service`, ``run()`` refills until the daemon shuts down gracefully.
public actor WarmPool: Service {
    public struct Configuration: Sendable {
        /// Where slot directories live; made a shared mount point when the pool is first used.
        public var root: String
        public var gate: GateMount
        public var daemonInstance: String
        /// How long a new container's gate has to say it is ready.
        public var readyTimeout: Duration
        /// Targets from the configuration file (the admin API's, kept in the store, win).
        public var targets: [PoolTarget]
        /// Whether this process may mount (it kept CAP_SYS_ADMIN and the mount system calls);
        /// without it, targets above size 0 are refused.
        public var canMount: Bool
        /// Where slots of profiles with egress get their egress directories; nil: such profiles'
        /// egress sessions launch cold.
        public var egress: PoolEgress?

        public init(
            root: String, gate: GateMount, daemonInstance: String, readyTimeout: Duration = .seconds(30),
            targets: [PoolTarget] = [], canMount: Bool = true, egress: PoolEgress? = nil
        ) {
            self.canMount = canMount
            self.egress = egress
            self.root = root
            self.gate = gate
            self.daemonInstance = daemonInstance
            self.readyTimeout = readyTimeout
            self.targets = targets
        }
    }

    /// One profile's pool, as the admin API shows it.
    public struct Status: Sendable, Equatable, Codable {
        public var profile: String
        public var image: String
        public var size: Int
        public var refillPerMinute: Int
        public var ready: Int
        public var creating: Int
    }

    /// A ready slot taken out of the pool for one session (``reserve(for:)``): nobody else can
    /// take it. The gate behind `stream` waits for its claim.
    public struct ReservedSlot: Sendable {
        public let slot: PoolSlot
        let stream: TerminalStream
        /// The slot's egress binds, when its profile lists egress: the session's proxy opens its
        /// socket in `egress.socketDirectory`.
        public let egress: EgressMount?
    }

    struct ReadySlot: Sendable {
        let slot: PoolSlot
        let stream: TerminalStream
        let egress: EgressMount?
    }

    public let configuration: Configuration
    /// The engine, usually the ``LimitedEngine`` the session manager shares.
    let engine: any ContainerEngine
    let store: SessionStore
    let mounter: any SlotMounter
    let launcher: SandboxLauncher
    /// The policies in force, shared with the session manager (SIGHUP replaces them).
    let policies: Swappable<PolicySet>
    let metrics: any PoolMetrics
    let logger: Logger
    let mountQueue = DispatchQueue(label: "sandcastle.pool.mounts")

    var targets: [String: PoolTarget] = [:]
    var ready: [String: [ReadySlot]] = [:]
    var creating: [String: Int] = [:]
    var lastCreation: [String: ContinuousClock.Instant] = [:]
    var rootPrepared = false
    /// When the last claim began, and since when refills have waited for claims to pause.
    var lastClaim: ContinuousClock.Instant?
    var refillDeferredSince: ContinuousClock.Instant?
    /// The refill loop's wait for a change (``waitForChange(upTo:)``), and whether one came
    /// while it was not waiting.
    var changeWaiter: CheckedContinuation<Void, Never>?
    var changed = false

    /// Refills wait until claims have paused this long: creating a container (the engine, runc,
    /// the read-back) takes the CPU that a burst of claims needs on a small host.
    static let claimQuietPeriod = Duration.milliseconds(250)
    /// ...but never longer than this, so a steady stream of claims still gets its pool back.
    static let maximumRefillDeferral = Duration.seconds(2)

    public init(
        configuration: Configuration, engine: any ContainerEngine, store: SessionStore, mounter: any SlotMounter,
        policies: Swappable<PolicySet>, metrics: any PoolMetrics = NoPoolMetrics(),
        logger: Logger = Logger(label: "sandcastle.pool")
    ) {
        self.configuration = configuration
        self.engine = engine
        self.store = store
        self.mounter = mounter
        self.launcher = SandboxLauncher(engine: engine, logger: logger)
        self.policies = policies
        self.metrics = metrics
        self.logger = logger
        for target in configuration.targets { targets[target.profile] = target }
    }

    // MARK: - Targets

    /// Loads the targets the admin API stored (they win over the configuration file's).
    public func loadStoredTargets() async throws {
        for target in try await store.poolTargets() { targets[target.profile] = target }
        for target in targets.values { publish(target.profile) }
    }

    /// Sets the pool of `target.profile` (admin API): checked against the profile first, kept in
    /// the store, applied at once (ready containers beyond a smaller size, or of another image,
    /// are retired).
    ///
    /// - Throws: ``PoolError`` `configuration` when the profile is unknown, the image not allowed,
    ///   the size outside 0...``maximumSize`` or the rate outside 1...6000 a minute.
    @discardableResult
    public func setTarget(_ target: PoolTarget) async throws -> Status {
        try await validate(target)
        try await store.setPoolTarget(target)
        targets[target.profile] = target
        var kept: [ReadySlot] = []
        var surplus: [ReadySlot] = []
        for slot in ready[target.profile] ?? [] {
            if slot.slot.image == target.image && kept.count < target.size { kept.append(slot) } else { surplus.append(slot) }
        }
        ready[target.profile] = kept
        publish(target.profile)
        for slot in surplus { await retire(slot.slot, stream: slot.stream) }
        return status(of: target.profile)
    }

    /// The largest pool of one profile.
    public static let maximumSize = 256

    func validate(_ target: PoolTarget) async throws(PoolError) {
        guard (0...Self.maximumSize).contains(target.size) else {
            throw PoolError(.configuration, "pool size \(target.size) for profile \(target.profile) is not in 0...\(Self.maximumSize)")
        }
        guard configuration.canMount || target.size == 0 else {
            throw PoolError(
                .configuration,
                "this daemon started without a pool in its configuration, so it gave up the privileges to mount; "
                    + "add a [[pool.targets]] entry (size may be 0) and restart it")
        }
        guard (1...6000).contains(target.refillPerMinute) else {
            throw PoolError(
                .configuration, "refill rate \(target.refillPerMinute)/min for profile \(target.profile) is not in 1...6000")
        }
        let set = policies.current
        guard let profile = set.profile(named: target.profile) else {
            throw PoolError(
                .configuration,
                "no profile \(target.profile); known profiles: \(set.profiles.keys.sorted().joined(separator: ", "))")
        }
        if profile.workspaceSizeBytes != nil, target.size > 0 {
            throw PoolError(
                .configuration,
                "profile \(profile.name) limits the workspace size; its sessions are launched cold, so it has no pool")
        }
        do {
            // The image is what is checked here: no command, so no egress (a session with egress
            // must name its command; a pool's sessions do, at claim time).
            let approved = try profile.approve(
                SessionLaunchRequest(image: target.image, profile: profile.name, workspace: "pool", egress: []))
            if approved.image.description != target.image {
                throw PoolError(
                    .configuration, "give the image as \(approved.image.description) (its canonical form), not \(target.image)")
            }
        } catch let error as SessionRequestRejected {
            throw PoolError(.configuration, "image \(target.image) for profile \(target.profile): \(error.description)")
        } catch let error as PoolError {
            throw error
        } catch {
            throw PoolError(.configuration, "\(error)")
        }
    }

    /// Every profile's pool.
    public func statuses() -> [Status] {
        targets.keys.sorted().map(status(of:))
    }

    func status(of profile: String) -> Status {
        let target = targets[profile]
        return Status(
            profile: profile, image: target?.image ?? "", size: target?.size ?? 0,
            refillPerMinute: target?.refillPerMinute ?? 0, ready: ready[profile]?.count ?? 0,
            creating: creating[profile] ?? 0)
    }

    /// Reports a change of a profile's ready slots or target to the metrics, and to the refill.
    func publish(_ profile: String) {
        metrics.slotsChanged(profile: profile, ready: ready[profile]?.count ?? 0, target: targets[profile]?.size ?? 0)
        wakeRefill()
    }
}
