import DockerEngine
import Foundation
import Logging
import NIOCore
import SandboxPolicy
import SessionStore
import Workspaces

extension WarmPool {
    // MARK: - Claim

    /// Takes a ready slot that can serve `approved` out of the pool, or returns nil when the pool
    /// cannot serve it (the caller launches cold): no ready slot of the profile and image (with
    /// egress binds, for a session with egress), an empty command (the image's default command is
    /// the engine's to resolve), capabilities other than the profile's, or a workspace size limit.
    /// Nothing is written: the caller claims the slot in the store next (the insert of the new
    /// session, ``SessionStore/insertSession(_:allocatingUIDFrom:event:claimingPoolSlot:)``), or
    /// gives it back (``discard(_:)``, ``putBack(_:)``).
    public func reserve(for approved: ApprovedSession) -> ReservedSlot? {
        let profile = approved.profile.name
        let image = approved.image.description
        guard !approved.request.command.isEmpty, approved.profile.workspaceSizeBytes == nil,
            approved.capabilities.sorted() == approved.profile.capabilities.sorted(),
            let index = ready[profile]?.firstIndex(where: {
                $0.slot.image == image && (approved.egress.isEmpty || $0.egress != nil)
            }),
            let candidate = ready[profile]?.remove(at: index)
        else { return nil }
        publish(profile)
        lastClaim = ContinuousClock.now
        return ReservedSlot(slot: candidate.slot, stream: candidate.stream, egress: candidate.egress)
    }

    /// Counts a new session of `profile` that the pool did not serve: it launches cold.
    public nonisolated func launchingCold(profile: String) {
        metrics.claimed(profile: profile, warm: false)
    }

    /// A reserved slot the store would not claim (retired meanwhile: a smaller target, a dead
    /// container): its stream is closed; the retirement removes the rest.
    public func discard(_ reserved: ReservedSlot) async {
        await reserved.stream.close()
    }

    /// A reserved slot that no session claimed (the request named a session that already
    /// existed): ready again, or retired when the pool has enough without it (a smaller target,
    /// another image, or a replacement already created).
    public func putBack(_ reserved: ReservedSlot) async {
        let profile = reserved.slot.profile
        let have = (ready[profile]?.count ?? 0) + (creating[profile] ?? 0)
        guard let target = targets[profile], target.image == reserved.slot.image, have < target.size else {
            await retire(reserved.slot, stream: reserved.stream)
            return
        }
        ready[profile, default: []].append(ReadySlot(slot: reserved.slot, stream: reserved.stream, egress: reserved.egress))
        publish(profile)
    }

    /// Binds `workspace` onto the claimed slot and tells its gate to run `request`'s command as
    /// `user`; returns the gate's stream, which the caller must read from now on. With `egress`
    /// (the caller opened the session's proxy in the slot's egress directory) the gate runs the
    /// command behind the forwarder with the proxy variables, as a cold launch's entrypoint does.
    ///
    /// - Throws: ``PoolError`` when the workspace could not be mounted or the gate not told: the
    ///   stream is closed; the caller calls ``release(sessionID:)`` and fails the session.
    public func deliver(
        _ reserved: ReservedSlot, workspace: ResolvedWorkspace, user: WorkspaceUser, request: SessionLaunchRequest,
        egress: Bool = false
    ) async throws -> TerminalStream {
        let began = ContinuousClock.now
        let slot = reserved.slot
        let mounter = self.mounter
        var environment = request.env
        if !environment.contains(where: { $0.hasPrefix("HOME=") }) { environment.append(LaunchSpec.defaultHome) }
        let message: ByteBuffer
        do {
            guard !egress || reserved.egress != nil else {
                throw PoolError(.claim, "pool slot \(slot.id) has no egress binds; a session with egress launches cold")
            }
            message = try GateClaim(
                uid: user.uid, gid: user.gid, workingDirectory: LaunchSpec.workspaceTarget,
                environment: egress ? EgressMount.environment(merging: environment) : environment,
                command: egress ? EgressMount.forwarded(request.command) : request.command
            ).encoded()
        } catch {
            await reserved.stream.close()
            throw error
        }
        do {
            let directory = slot.directory
            try await onMountThread { () throws(PoolError) in try mounter.mountWorkspace(workspace, onto: directory) }
            do {
                try await reserved.stream.send(message)
            } catch {
                throw PoolError(.claim, "sending the claim to the gate of pool slot \(slot.id) failed: \(error)", underlying: error)
            }
        } catch {
            await reserved.stream.close()
            throw error
        }
        metrics.claimed(profile: slot.profile, warm: true)
        logger.debug(
            "session claimed a warm pool slot",
            metadata: [
                "pool.slot": "\(slot.id)", "pool.profile": "\(slot.profile)", "claim.duration": "\(ContinuousClock.now - began)",
            ])
        return reserved.stream
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
}
