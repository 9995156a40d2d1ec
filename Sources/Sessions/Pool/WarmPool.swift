import DockerEngine
import Dispatch
import Foundation
import Logging
import NIOCore
import SandboxPolicy
import SessionStore

/// What the warm pool reports for metrics (the daemon maps it to Prometheus).
public protocol PoolMetrics: Sendable {
    /// A session of `profile` came from the pool (`warm`) or had to be launched cold.
    func claimed(profile: String, warm: Bool)
    /// The pool of `profile` now has `ready` containers for a target of `target`.
    func slotsChanged(profile: String, ready: Int, target: Int)
}

public struct NoPoolMetrics: PoolMetrics {
    public init() {}
    public func claimed(profile: String, warm: Bool) {}
    public func slotsChanged(profile: String, ready: Int, target: Int) {}
}

/// The warm pool: per profile, containers created, verified and started ahead of time, each
/// running the gate (`Gate/sandcastle-gate.c`) on its terminal, already attached.
///
/// ## A claim (``claim(approved:sessionID:workspace:user:)``), with no engine call
/// 1. take a ready slot of the profile and image from memory, and claim it in the store: one
///    transaction moves the slot to `claimed` by the session and the session to `starting` with
///    the slot's container (a slot serves at most one session, whatever races);
/// 2. bind the session's workspace (the directory `WorkspaceResolver` opened without following
///    symlinks) onto the slot directory, which the container has at `/workspace` with `rslave`
///    propagation, and check the slot is now that directory;
/// 3. send the claim message (uid, gid, cwd, env, command) to the gate over the attach stream
///    kept since the container started; the gate switches to the workspace's uid, drops every
///    capability and execs the command;
/// 4. the caller records the session `running` and hands the stream to the terminal relay as the
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
public actor WarmPool {
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

        public init(
            root: String, gate: GateMount, daemonInstance: String, readyTimeout: Duration = .seconds(30),
            targets: [PoolTarget] = [], canMount: Bool = true
        ) {
            self.canMount = canMount
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

    /// A claimed slot: the session as committed (`starting`) and the gate's attach stream, whose
    /// output the caller must read from now on.
    public struct Claim: Sendable {
        public let session: Session
        public let stream: HijackedStream
    }

    struct ReadySlot: Sendable {
        let slot: PoolSlot
        let stream: HijackedStream
    }

    public let configuration: Configuration
    let engine: any ContainerEngine
    let store: SessionStore
    let mounter: any SlotMounter
    let limiter: EngineLimiter
    let launcher: SandboxLauncher
    let policies: @Sendable () async -> PolicySet
    let metrics: any PoolMetrics
    let logger: Logger
    private let mountQueue = DispatchQueue(label: "sandcastle.pool.mounts")

    var targets: [String: PoolTarget] = [:]
    var ready: [String: [ReadySlot]] = [:]
    var creating: [String: Int] = [:]
    var lastCreation: [String: ContinuousClock.Instant] = [:]
    var rootPrepared = false
    /// When the last claim began, and since when refills have waited for claims to pause.
    var lastClaim: ContinuousClock.Instant?
    var refillDeferredSince: ContinuousClock.Instant?

    /// Refills wait until claims have paused this long: creating a container (the engine, runc,
    /// the read-back) takes the CPU that a burst of claims needs on a small host.
    static let claimQuietPeriod = Duration.milliseconds(250)
    /// ...but never longer than this, so a steady stream of claims still gets its pool back.
    static let maximumRefillDeferral = Duration.seconds(2)

    public init(
        configuration: Configuration, engine: any ContainerEngine, store: SessionStore, mounter: any SlotMounter,
        limiter: EngineLimiter, policies: @escaping @Sendable () async -> PolicySet,
        metrics: any PoolMetrics = NoPoolMetrics(), logger: Logger = Logger(label: "sandcastle.pool")
    ) {
        self.configuration = configuration
        self.engine = engine
        self.store = store
        self.mounter = mounter
        self.limiter = limiter
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
        let set = await policies()
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
            let approved = try profile.approve(SessionLaunchRequest(image: target.image, profile: profile.name, workspace: "pool"))
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

    private func publish(_ profile: String) {
        metrics.slotsChanged(profile: profile, ready: ready[profile]?.count ?? 0, target: targets[profile]?.size ?? 0)
    }

    // MARK: - Claim

    /// Claims a ready slot for session `sessionID` (recorded `creating`), or returns nil when
    /// the pool cannot serve this request (the caller launches cold): no ready slot of the
    /// profile and image, an empty command (the image's default command is the engine's to
    /// resolve), capabilities other than the profile's, or a workspace size limit.
    ///
    /// - Throws: when a slot was claimed but the workspace could not be mounted or the gate not
    ///   told: the session is the slot's then; call ``release(sessionID:)`` and fail the session.
    public func claim(approved: ApprovedSession, sessionID: String, workspace: ResolvedWorkspace, user: WorkspaceUser)
        async throws -> Claim?
    {
        let profile = approved.profile.name
        let request = approved.request
        guard !request.command.isEmpty, approved.profile.workspaceSizeBytes == nil,
            approved.capabilities.sorted() == approved.profile.capabilities.sorted()
        else {
            metrics.claimed(profile: profile, warm: false)
            return nil
        }
        let image = approved.image.description
        var environment = request.env
        if !environment.contains(where: { $0.hasPrefix("HOME=") }) { environment.append(LaunchSpec.defaultHome) }
        let message = try GateClaim(
            uid: user.uid, gid: user.gid, workingDirectory: LaunchSpec.workspaceTarget, environment: environment,
            command: request.command
        ).encoded()
        while let index = ready[profile]?.firstIndex(where: { $0.slot.image == image }) {
            guard let candidate = ready[profile]?.remove(at: index) else { break }
            publish(profile)
            let began = ContinuousClock.now
            lastClaim = began
            guard let session = try await store.claimPoolSlot(candidate.slot.id, for: sessionID) else {
                // Retired meanwhile (a smaller target, a dead container): try the next.
                await candidate.stream.close()
                continue
            }
            let directory = candidate.slot.directory
            let mounter = self.mounter
            do {
                try await onMountThread { () throws(PoolError) in try mounter.mountWorkspace(workspace, onto: directory) }
                do {
                    try await candidate.stream.send(message)
                } catch {
                    throw PoolError(
                        .claim, "sending the claim to the gate of pool slot \(candidate.slot.id) failed: \(error)", underlying: error)
                }
            } catch {
                await candidate.stream.close()
                throw error
            }
            metrics.claimed(profile: profile, warm: true)
            logger.info(
                "session claimed a warm pool slot",
                metadata: [
                    "session.id": "\(sessionID)", "pool.slot": "\(candidate.slot.id)", "pool.profile": "\(profile)",
                    "claim.duration": "\(ContinuousClock.now - began)",
                ])
            return Claim(session: session, stream: candidate.stream)
        }
        metrics.claimed(profile: profile, warm: false)
        return nil
    }

    /// Undoes the slot of session `sessionID` (removed, or a claim that failed): removes its
    /// container if still there, unmounts the workspace from the slot directory, deletes the
    /// directory and forgets the slot. The workspace itself is never touched.
    public func release(sessionID: String) async {
        guard let slot = try? await store.poolSlot(sessionID: sessionID) else { return }
        await retire(slot, stream: nil)
    }

    /// The engine reported that a container of an unclaimed slot ended: it is retired, and
    /// replaced by ``run()``.
    public func containerEnded(_ containerID: String) async {
        for (profile, slots) in ready {
            guard let index = slots.firstIndex(where: { $0.slot.containerID == containerID }) else { continue }
            let slot = slots[index]
            ready[profile]?.remove(at: index)
            publish(profile)
            logger.warning("a ready pool container ended; replacing it", metadata: ["pool.slot": "\(slot.slot.id)"])
            await retire(slot.slot, stream: slot.stream)
            return
        }
    }

    // MARK: - Refill

    /// Keeps every pool at its target until cancelled. Ready containers stay when the daemon
    /// stops; the next start retires them (their attach streams are gone).
    public func run() async {
        while !Task.isCancelled {
            let delay = await fillPass()
            do {
                try await Task.sleep(for: min(delay, .milliseconds(100)))
            } catch {
                break
            }
        }
        await closeStreams()
    }

    /// Closes the attach streams of the ready slots (the daemon is stopping): their containers
    /// can no longer be claimed and are retired at the next start.
    func closeStreams() async {
        let slots = ready.values.flatMap { $0 }
        ready = [:]
        for slot in slots { await slot.stream.close() }
        for profile in targets.keys { publish(profile) }
    }

    /// Starts at most one container per profile whose pool is short and whose rate allows it;
    /// returns how long until the next may start.
    func fillPass() async -> Duration {
        var wait = Duration.seconds(1)
        for target in targets.values.sorted(by: { $0.profile < $1.profile }) where target.size > 0 {
            let have = (ready[target.profile]?.count ?? 0) + (creating[target.profile] ?? 0)
            guard have < target.size else { continue }
            let interval = Duration.milliseconds(60_000 / max(1, target.refillPerMinute))
            let now = ContinuousClock.now
            if let last = lastCreation[target.profile], now - last < interval {
                wait = min(wait, interval - (now - last))
                continue
            }
            if let lastClaim, now - lastClaim < Self.claimQuietPeriod {
                let since = refillDeferredSince ?? now
                refillDeferredSince = since
                if now - since < Self.maximumRefillDeferral {
                    wait = min(wait, Self.claimQuietPeriod - (now - lastClaim))
                    continue
                }
            }
            refillDeferredSince = nil
            guard await prepareRoot() else { return .seconds(5) }
            lastCreation[target.profile] = now
            await createSlot(target)
            wait = .zero
        }
        return wait
    }

    /// Makes the pool root a shared mount point, once.
    func prepareRoot() async -> Bool {
        if rootPrepared { return true }
        let mounter = self.mounter
        let root = configuration.root
        guard FileManager.default.isExecutableFile(atPath: configuration.gate.hostPath) else {
            logger.error(
                "the warm pool's gate program is missing; build it with scripts/build-gate and set [pool] gate. Sessions launch cold",
                metadata: ["pool.gate": "\(configuration.gate.hostPath)"])
            return false
        }
        do {
            try await onMountThread { () throws(PoolError) in try mounter.preparePoolRoot(root) }
            rootPrepared = true
        } catch {
            logger.error("the warm pool cannot prepare its root; sessions launch cold", metadata: ["error": "\(error)"])
        }
        return rootPrepared
    }

    /// Creates, verifies, attaches and starts one pool container and waits for its gate.
    func createSlot(_ target: PoolTarget) async {
        creating[target.profile, default: 0] += 1
        defer { creating[target.profile, default: 1] -= 1 }
        let id = Self.newSlotID()
        var slot = PoolSlot(
            id: id, profile: target.profile, image: target.image, containerName: "sandcastle-pool-\(id)",
            directory: configuration.root + "/" + id, daemonInstance: configuration.daemonInstance, createdAt: Date())
        var stream: HijackedStream?
        do {
            try await store.insertPoolSlot(slot)
            let directory = slot.directory
            try await onMountThread { () throws(PoolError) in try Self.makeSlotDirectory(directory) }
            guard let profile = await policies().profile(named: target.profile) else {
                throw PoolError(.configuration, "profile \(target.profile) no longer exists")
            }
            let resolved = try WorkspaceResolver(root: configuration.root).resolve(id)
            var config = try LaunchSpec.poolContainerConfig(
                profile: profile, image: target.image, slot: WorkspaceMount(hostPath: resolved.path, use: .poolSlot),
                gate: configuration.gate, slotID: id)
            config.labels?[SandcastleLabels.instance] = configuration.daemonInstance
            let name = slot.containerName
            let gate = configuration.gate
            let containerID = try await limiter.run {
                try await launcher.create(name: name, config: config, workspace: resolved, gate: gate)
            }
            slot.containerID = containerID
            try await store.setPoolSlotContainer(id: id, containerID: containerID)
            stream = try await limiter.run { try await engine.attachTerminalStream(containerID) }
            try await limiter.run { try await engine.startContainer(containerID) }
            try await waitForGate(directory)
            guard try await store.markPoolSlotReady(id: id, containerID: containerID) else {
                throw PoolError(.container, "pool slot \(id) was retired while it started")
            }
            slot.state = .ready
            guard let stream, let current = targets[target.profile], current.image == target.image,
                (ready[target.profile]?.count ?? 0) < current.size
            else {
                throw PoolError(.configuration, "the pool of \(target.profile) changed while slot \(id) started")
            }
            ready[target.profile, default: []].append(ReadySlot(slot: slot, stream: stream))
            publish(target.profile)
            logger.debug("pool slot ready", metadata: ["pool.slot": "\(id)", "pool.profile": "\(target.profile)"])
        } catch {
            logger.warning(
                "creating a pool container failed", metadata: ["pool.slot": "\(id)", "pool.profile": "\(target.profile)", "error": "\(error)"])
            await retire(slot, stream: stream)
        }
    }

    /// The gate creates this file in the slot directory once its terminal is raw and it waits.
    static let readyFile = ".sandcastle-gate-ready"

    func waitForGate(_ directory: String) async throws {
        let deadline = ContinuousClock.now + configuration.readyTimeout
        let path = directory + "/" + Self.readyFile
        while ContinuousClock.now < deadline {
            let found = try await onMountThread { () throws(PoolError) -> Bool in
                var info = stat()
                return lstat(path, &info) == 0
            }
            if found { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw PoolError(.container, "the gate in \(directory) did not get ready within \(configuration.readyTimeout)")
    }

    // MARK: - Retirement and reconciliation

    /// Removes what a slot left: its stream, its container, any mount on its directory, the
    /// directory (never recursively: only the gate's ready file is expected in it) and its row.
    func retire(_ slot: PoolSlot, stream: HijackedStream?) async {
        await stream?.close()
        let reference = slot.containerID ?? slot.containerName
        do {
            try await limiter.run { try await engine.removeContainer(reference, force: true, removeVolumes: true) }
        } catch let error as DockerError where error.code == .notFound {
        } catch {
            logger.warning("removing a pool container failed", metadata: ["pool.slot": "\(slot.id)", "error": "\(error)"])
        }
        do {
            try await clearSlotDirectory(slot.directory)
            try await store.deletePoolSlot(id: slot.id)
        } catch {
            logger.error(
                "cleaning up pool slot \(slot.id) failed; the next start tries again",
                metadata: ["pool.slot": "\(slot.id)", "error": "\(error)"])
        }
    }

    /// At start-up, after the session manager reconciled its sessions: retires every slot not
    /// claimed by a session that still exists, and cleans slot directories no slot owns.
    public func reconcile() async throws {
        var kept = Set<String>()
        for slot in try await store.poolSlots() {
            if slot.state == .claimed, let sessionID = slot.sessionID,
                let session = try await store.session(id: sessionID), session.state != .removed, session.state != .failed
            {
                kept.insert(slot.id)
                continue
            }
            await retire(slot, stream: nil)
        }
        let root = configuration.root
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for entry in entries where !kept.contains(entry) {
            let directory = root + "/" + entry
            do {
                try await clearSlotDirectory(directory)
            } catch {
                logger.warning("a stale pool slot directory could not be removed", metadata: ["path": "\(directory)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Helpers

    static func newSlotID() -> String {
        (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func makeSlotDirectory(_ directory: String) throws(PoolError) {
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw PoolError(.mount, "cannot create the pool slot directory \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts whatever is mounted on a slot directory, then deletes it (on the mount thread).
    func clearSlotDirectory(_ directory: String) async throws(PoolError) {
        let mounter = self.mounter
        try await onMountThread { () throws(PoolError) in
            try mounter.unmountAll(directory)
            try Self.removeSlotDirectory(directory, mounter: mounter)
        }
    }

    /// Deletes the ready file and the directory, refusing while something is still mounted there
    /// (a workspace must never be deleted through a slot).
    static func removeSlotDirectory(_ directory: String, mounter: any SlotMounter) throws(PoolError) {
        guard !mounter.isMountPoint(directory) else {
            throw PoolError(.mount, "\(directory) still has a mount; not deleting it")
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw PoolError(.mount, "cannot open \(directory): \(String(cString: strerror(errno)))")
        }
        _ = unlinkat(fd, readyFile, 0)
        close(fd)
        guard rmdir(directory) == 0 || errno == ENOENT else {
            throw PoolError(.mount, "cannot remove \(directory): \(String(cString: strerror(errno))) (it holds more than the gate's file)")
        }
    }

    /// Runs a host filesystem call on the pool's own thread, not on the cooperative pool.
    func onMountThread<T: Sendable>(_ body: @escaping @Sendable () throws(PoolError) -> T) async throws(PoolError) -> T {
        let result: Result<T, PoolError> = await withCheckedContinuation { continuation in
            mountQueue.async {
                continuation.resume(returning: Result { () throws(PoolError) -> T in try body() })
            }
        }
        return try result.get()
    }
}
