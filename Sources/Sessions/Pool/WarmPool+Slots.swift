import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import SessionStore
import Dispatch

extension WarmPool {
    // MARK: - Retirement and reconciliation

    /// Removes what a slot left: its stream, its container, any mount on its directory, the
    /// directory (never recursively: only the gate's ready file is expected in it), its egress
    /// directory and its row.
    func retire(_ slot: PoolSlot, stream: TerminalStream?) async {
        await stream?.close()
        let reference = slot.containerID ?? slot.containerName
        do {
            try await engine.removeContainer(reference, force: true, removeVolumes: true)
        } catch let error as DockerError where error.code == .notFound {
        } catch {
            logger.warning("removing a pool container failed", metadata: ["pool.slot": "\(slot.id)", "error": "\(error)"])
        }
        await removeEgressDirectory(slotID: slot.id)
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
        await removeStaleEgressDirectories(keeping: kept)
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
