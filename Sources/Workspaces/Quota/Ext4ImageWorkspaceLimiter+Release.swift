import Glibc
import SandboxPolicy

/// One `release` call, run whole on the limiter's queue. Every step blocks.
struct ReleaseOperation {
    let limiter: Ext4ImageWorkspaceLimiter
    let name: String

    var path: String { limiter.workspaceRoot + "/" + name }
    var imagePath: String { limiter.imagePath(forWorkspace: name) }

    func release(deletingImage: Bool) throws(WorkspaceError) {
        try unmount()
        try detach()
        if deletingImage {
            let directory = try ImageDirectory.open(limiter.imageDirectory)
            defer { close(directory) }
            for file in [Ext4Image.fileName(forWorkspace: name), Ext4Image.temporaryFileName(forWorkspace: name)] {
                let removed = Syscall.retrying { unlinkat(directory, file, 0) }
                if removed.result != 0, removed.errno != ENOENT {
                    throw WorkspaceError.failed("unlink image", path: limiter.imageDirectory + "/" + file, errno: removed.errno)
                }
            }
            limiter.logger.info("deleted workspace image", metadata: ["workspace.name": "\(name)"])
        }
    }

    /// Unmounts the image from the workspace, trying again while it is busy. A plain unmount, never
    /// a lazy one (`MNT_DETACH`): a lazily unmounted image would stay attached, and writable, for as
    /// long as something holds it.
    func unmount() throws(WorkspaceError) {
        var attempt = 0
        while let top = try MountTable.current(for: path).topMount(at: path) {
            let device = LoopDevices.deviceName(ofSource: top.source)
            guard let device, limiter.loopDevices.backingFile(of: device) == imagePath else {
                throw WorkspaceError(
                    .mountConflict, path: path,
                    "\(top.source) is mounted on the workspace, not its image \(imagePath); not unmounting it")
            }
            let result = Syscall.retrying { umount2(path, Int32(UMOUNT_NOFOLLOW)) }
            if result.result == 0 {
                limiter.logger.info("unmounted workspace image", metadata: ["workspace.name": "\(name)"])
                continue
            }
            guard result.errno == EBUSY else {
                throw WorkspaceError.failed("umount2", path: path, errno: result.errno)
            }
            attempt += 1
            guard attempt < limiter.unmountAttempts else {
                throw WorkspaceError(
                    .busy, path: path, operation: "umount2", errno: EBUSY,
                    "the workspace is still in use after \(attempt) unmount attempts (an open file or a working "
                        + "directory in it: a session still running?); stop its sessions and release it again")
            }
            Self.sleep(limiter.unmountRetryDelay)
        }
    }

    /// Makes sure no loop device is left bound to the image. `mount -o loop` sets autoclear, so the
    /// kernel detaches the device once the last mount is gone; a device still bound is detached with
    /// `losetup -d`, and if it stays bound something else (a container's mount namespace) holds it.
    func detach() throws(WorkspaceError) {
        if waitUntilDetached() { return }
        for device in limiter.loopDevices.devices(backedBy: imagePath) {
            try ToolRunner(path: path, imagePath: imagePath).run(.losetup, ["-d", "/dev/" + device], step: "detach the loop device")
        }
        guard waitUntilDetached() else {
            let devices = limiter.loopDevices.devices(backedBy: imagePath).map { "/dev/" + $0 }
            throw WorkspaceError(
                .busy, path: path, operation: "losetup -d",
                "the image stays attached to \(devices.joined(separator: ", ")) after unmounting: another mount "
                    + "namespace still uses it (a container of this workspace?); stop it, then release again")
        }
    }

    /// Waits up to a second for the image's loop devices to go away.
    private func waitUntilDetached() -> Bool {
        for _ in 0..<20 {
            if limiter.loopDevices.devices(backedBy: imagePath).isEmpty { return true }
            Self.sleep(.milliseconds(50))
        }
        return limiter.loopDevices.devices(backedBy: imagePath).isEmpty
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&time, &remaining) != 0 && errno == EINTR { time = remaining }
    }
}
