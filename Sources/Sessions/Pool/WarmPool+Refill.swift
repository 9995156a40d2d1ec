import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import ServiceLifecycle
import SessionStore
import Workspaces

extension WarmPool {
    // MARK: - Refill

    /// Keeps every pool at its target until the daemon shuts down gracefully. Ready containers
    /// stay when the daemon stops; the next start retires them (their attach streams are gone).
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.refill() }
    }

    /// Keeps every pool at its target until cancelled. Between passes it sleeps until the pool
    /// changes or the pass's own delay (a rate, the claims' quiet period) has passed: an idle
    /// daemon's pool does not wake it.
    func refill() async {
        while !Task.isCancelled {
            let delay = await fillPass()
            if delay > .zero { await waitForChange(upTo: delay) }
        }
        await closeStreams()
    }

    /// Returns once ``publish(_:)`` has reported a change since the last wait, `delay` has
    /// passed, or the task is cancelled.
    func waitForChange(upTo delay: Duration) async {
        defer { changed = false }
        if changed || Task.isCancelled { return }
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            await self?.wakeRefill()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { changeWaiter = $0 }
        } onCancel: {
            Task { await self.wakeRefill() }
        }
        timer.cancel()
    }

    /// Ends the refill's wait (``waitForChange(upTo:)``), or the next one at once.
    func wakeRefill() {
        changed = true
        changeWaiter?.resume()
        changeWaiter = nil
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
        // Nothing to do: every change that could give the pass work wakes it (``publish(_:)``);
        // this is a safety net only.
        var wait = Duration.seconds(10)
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
        var stream: TerminalStream?
        var egress: EgressMount?
        do {
            try await store.insertPoolSlot(slot)
            let directory = slot.directory
            try await onMountThread { () throws(PoolError) in try Self.makeSlotDirectory(directory) }
            guard let profile = policies.current.profile(named: target.profile) else {
                throw PoolError(.configuration, "profile \(target.profile) no longer exists")
            }
            let resolved = try await WorkspaceResolver(root: configuration.root).resolve(id)
            egress = try await makeEgressDirectory(for: profile, slotID: id)
            var config = try LaunchSpec.poolContainerConfig(
                profile: profile, image: target.image, slot: WorkspaceMount(hostPath: resolved.path, use: .poolSlot),
                gate: configuration.gate, slotID: id, egress: egress)
            config.labels?[SandcastleLabels.instance] = configuration.daemonInstance
            let name = slot.containerName
            let gate = configuration.gate
            let containerID = try await launcher.create(
                name: name, config: config, workspace: resolved, gate: gate, egress: egress)
            slot.containerID = containerID
            try await store.setPoolSlotContainer(id: id, containerID: containerID)
            stream = try await engine.attachTerminalStream(containerID)
            try await engine.startContainer(containerID)
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
            ready[target.profile, default: []].append(ReadySlot(slot: slot, stream: stream, egress: egress))
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
}
