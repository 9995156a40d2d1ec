import TOMLConfig
import Glibc
import SandboxPolicy

/// One `limit` call, run whole on the limiter's queue. Every step blocks.
struct LimitOperation {
    let limiter: Ext4ImageWorkspaceLimiter
    let workspace: ResolvedWorkspace

    var path: String { workspace.path }
    var imagePath: String { limiter.imagePath(forWorkspace: workspace.name) }
    var imageName: String { Ext4Image.fileName(forWorkspace: workspace.name) }

    func limit(toBytes bytes: Int64) throws(WorkspaceError) {
        guard let size = Ext4Image.imageBytes(forLimit: bytes) else {
            throw WorkspaceError(
                .invalidSizeLimit, path: path,
                "workspace_size \(bytes) bytes is outside \(ByteSize.human(Ext4Image.minimumBytes)) to "
                    + "\(ByteSize.human(Ext4Image.maximumBytes)); fix the profile")
        }
        let directory = try ImageDirectory.open(limiter.imageDirectory)
        defer { close(directory) }
        if let device = try mountedImageDevice() {
            try growMounted(device: device, directory: directory, to: size)
            return
        }
        try workspace.verifyUnchanged()
        // Whether the image is new or not, mounting over files would hide them.
        try requireEmptyWorkspace()
        let created: Bool
        let (existing, openError) = Syscall.retrying { openat(directory, imageName, O_RDWR | O_NOFOLLOW | O_CLOEXEC) }
        if existing >= 0 {
            defer { close(existing) }
            try ImageDirectory.checkImage(existing, path: imagePath)
            try resizeUnmounted(existing, to: size)
            created = false
        } else if openError == ENOENT {
            try createImage(in: directory, size: size)
            created = true
        } else {
            throw WorkspaceError.failed("open image", path: imagePath, errno: openError)
        }
        try mountImage()
        if created { try restrictRoot() }
    }

    // MARK: Mounted already

    /// The loop device (`loop3`) when the workspace has its own image mounted, with `nosuid,nodev`,
    /// as the only mount on its directory; nil when nothing is mounted there.
    ///
    /// - Throws: `mountConflict` for anything else mounted there.
    func mountedImageDevice() throws(WorkspaceError) -> String? {
        let table = try MountTable.current(for: path)
        guard let top = table.topMount(at: path) else { return nil }
        let device = LoopDevices.deviceName(ofSource: top.source)
        let backing = device.flatMap(limiter.loopDevices.backingFile(of:))
        guard let device, backing == imagePath else {
            throw WorkspaceError(
                .mountConflict, path: path,
                "\(top.source) (\(top.fileSystemType)\(backing.map { ", backed by \($0)" } ?? "")) is mounted on the "
                    + "workspace, not its image \(imagePath); unmount it before using a size limit")
        }
        guard top.options.contains("nosuid"), top.options.contains("nodev") else {
            throw WorkspaceError(
                .mountConflict, path: path,
                "the workspace's image is mounted with options \(top.options.joined(separator: ",")), without nosuid "
                    + "and nodev; release the workspace and limit it again")
        }
        guard table.mountCount(at: path) == 1 else {
            throw WorkspaceError(
                .mountConflict, path: path,
                "\(table.mountCount(at: path)) mounts are stacked on the workspace; release it and limit it again")
        }
        return device
    }

    /// Grows a mounted image online to `size`; a smaller `size` is refused, since ext4 cannot shrink
    /// while mounted.
    func growMounted(device: String, directory: Int32, to size: Int64) throws(WorkspaceError) {
        let image = try ImageDirectory.openImage(imageName, in: directory, path: imagePath)
        defer { close(image) }
        let current = try ImageDirectory.checkImage(image, path: imagePath)
        if size == current { return }
        guard size > current else {
            throw WorkspaceError(
                .busy, path: path,
                "the workspace is mounted with a \(ByteSize.human(current)) limit and ext4 cannot shrink while "
                    + "mounted; stop its sessions and release it, then limit it to \(ByteSize.human(size))")
        }
        // The kernel's online resize (EXT4_IOC_RESIZE_FS) checks CAP_SYS_RESOURCE; without it,
        // refuse before changing anything.
        guard Capabilities.effective(Capabilities.sysResource) else {
            throw WorkspaceError(
                .sizeLimitUnavailable, path: path, operation: "resize2fs",
                "growing a mounted workspace (\(ByteSize.human(current)) to \(ByteSize.human(size))) needs "
                    + "CAP_SYS_RESOURCE, which the daemon lacks; stop the workspace's sessions and release it, then "
                    + "limit it again (it grows while unmounted), or grant the daemon CAP_SYS_RESOURCE")
        }
        limiter.logger.info(
            "growing mounted workspace image",
            metadata: ["workspace.name": "\(workspace.name)", "workspace.bytes": "\(current)->\(size)"])
        try ImageDirectory.setSize(image, size, path: imagePath)
        do throws(WorkspaceError) {
            try tools.run(.losetup, ["-c", "/dev/" + device], step: "tell the loop device the image grew")
            try tools.run(.resize, ["/dev/" + device], step: "grow the mounted file system")
        } catch {
            // The file system still has its old size: give the file (the record of the limit) its
            // old size back too, so the next call tries again.
            try? ImageDirectory.setSize(image, current, path: imagePath)
            _ = try? tools.runTool(.losetup, ["-c", "/dev/" + device])
            throw error
        }
    }

    // MARK: Not mounted

    /// Checks an existing, unmounted image and resizes it to `size` when its file system has another
    /// size.
    func resizeUnmounted(_ image: Int32, to size: Int64) throws(WorkspaceError) {
        let attached = limiter.loopDevices.devices(backedBy: imagePath)
        guard attached.isEmpty else {
            throw WorkspaceError(
                .busy, path: path,
                "its image is attached to \(attached.map { "/dev/" + $0 }.joined(separator: ", ")) but not mounted on "
                    + "the workspace: another mount namespace (a container of an earlier session?) still holds it; "
                    + "stop those sessions, or detach it (losetup -d) once nothing uses it")
        }
        let superblock = try ImageDirectory.readSuperblock(image, path: imagePath)
        guard superblock.sizeBytes != size else { return }
        limiter.logger.info(
            "resizing workspace image",
            metadata: ["workspace.name": "\(workspace.name)", "workspace.bytes": "\(superblock.sizeBytes)->\(size)"])
        try checkFileSystem()
        if size > superblock.sizeBytes { try ImageDirectory.setSize(image, size, path: imagePath) }
        let resized = try tools.runTool(.resize, [imagePath, Ext4Image.resizeArgument(size)])
        guard resized.status == 0 else {
            if size < superblock.sizeBytes {
                throw WorkspaceError(
                    .invalidSizeLimit, path: path, operation: "resize2fs",
                    "cannot shrink the workspace to \(ByteSize.human(size)): about \(ByteSize.human(superblock.usedBytes)) "
                        + "of its \(ByteSize.human(superblock.sizeBytes)) is in use; delete files in it or use a profile "
                        + "with a larger workspace_size", commandOutput: resized.output)
            }
            throw tools.failure(.resize, resized, step: "resize the image")
        }
        if size < superblock.sizeBytes { try ImageDirectory.setSize(image, size, path: imagePath) }
    }

    /// `e2fsck -f -p`: resize2fs refuses a file system that has not just been checked.
    func checkFileSystem() throws(WorkspaceError) {
        let checked = try tools.runTool(.fsck, ["-f", "-p", imagePath])
        // 0: clean, 1: errors corrected, 2: corrected, reboot advised (for a root file system).
        guard checked.status <= 2 else {
            throw WorkspaceError(
                .commandFailed, path: path, operation: "e2fsck",
                "the image \(imagePath) has errors e2fsck -p cannot fix (exit \(checked.status)); "
                    + "run e2fsck -f on it by hand", commandOutput: checked.output)
        }
    }

    func requireEmptyWorkspace() throws(WorkspaceError) {
        let (names, error) = Syscall.entries(of: workspace.descriptor)
        guard error == 0 else { throw WorkspaceError.failed("readdir", path: path, errno: error) }
        guard names.isEmpty else {
            throw WorkspaceError(
                .notEmpty, path: path,
                "the workspace directory holds \(names.count) entries outside its image (a workspace that had no size "
                    + "limit, or files written while the image was not mounted); an image mounted over them would hide "
                    + "them. Give size limits to new workspaces, or move the files out, limit, and move them back in")
        }
    }

    /// Makes, formats and renames into place a new image, owned inside by the workspace's owner.
    func createImage(in directory: Int32, size: Int64) throws(WorkspaceError) {
        let (info, statError) = Syscall.statDescriptor(workspace.descriptor)
        guard let info else { throw WorkspaceError.failed("fstat", path: path, errno: statError) }
        let temporary = Ext4Image.temporaryFileName(forWorkspace: workspace.name)
        let temporaryPath = limiter.imageDirectory + "/" + temporary
        limiter.logger.info(
            "creating workspace image",
            metadata: ["workspace.name": "\(workspace.name)", "workspace.bytes": "\(size)", "image.path": "\(imagePath)"])
        // A leftover of a crash during an earlier creation: never a real image (those end in .ext4).
        _ = Syscall.retrying { unlinkat(directory, temporary, 0) }
        let (fd, error) = Syscall.retrying {
            openat(directory, temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw WorkspaceError.failed("create image", path: temporaryPath, errno: error) }
        do throws(WorkspaceError) {
            defer { close(fd) }
            if fchmod(fd, 0o600) != 0 { throw WorkspaceError.failed("fchmod", path: temporaryPath, errno: errno) }
            try ImageDirectory.setSize(fd, size, path: temporaryPath)
            try tools.run(
                .mkfs,
                ["-q", "-F", "-b", String(Ext4Image.blockSize), "-m", "0", "-E", "root_owner=\(info.st_uid):\(info.st_gid)",
                 temporaryPath],
                step: "format the image")
            if fsync(fd) != 0 { throw WorkspaceError.failed("fsync", path: temporaryPath, errno: errno) }
            // link + unlink: a rename that never replaces an image already there.
            let linked = Syscall.retrying { linkat(directory, temporary, directory, imageName, 0) }
            if linked.result != 0 { throw WorkspaceError.failed("link image", path: imagePath, errno: linked.errno) }
            _ = Syscall.retrying { unlinkat(directory, temporary, 0) }
            _ = fsync(directory)
        } catch {
            _ = Syscall.retrying { unlinkat(directory, temporary, 0) }
            throw error
        }
    }

    /// `mount -t ext4 -o loop,nosuid,nodev`, then checks from mountinfo and sysfs that the image is
    /// what is mounted, with those options.
    func mountImage() throws(WorkspaceError) {
        guard access("/dev/loop-control", F_OK) == 0 else {
            throw WorkspaceError(
                .sizeLimitUnavailable, path: path, operation: "mount",
                "the kernel has no loop devices (/dev/loop-control is missing): load the loop module "
                    + "(modprobe loop), or remove workspace_size from the profiles")
        }
        limiter.logger.info(
            "mounting workspace image", metadata: ["workspace.name": "\(workspace.name)", "image.path": "\(imagePath)"])
        let mounted = try tools.runTool(.mount, ["-t", "ext4", "-o", "loop,nosuid,nodev", imagePath, path])
        guard mounted.status == 0 else {
            if mounted.output.contains("loop") && mounted.output.contains("failed to setup") {
                throw WorkspaceError(
                    .sizeLimitUnavailable, path: path, operation: "mount",
                    "no loop device could be set up for \(imagePath): all are in use, or the daemon lacks "
                        + "CAP_SYS_ADMIN or access to /dev/loop*", commandOutput: mounted.output)
            }
            throw tools.failure(.mount, mounted, step: "mount the image on the workspace")
        }
        do throws(WorkspaceError) {
            guard try mountedImageDevice() != nil else {
                throw WorkspaceError(
                    .mountConflict, path: path, operation: "mount",
                    "mount reported success, but /proc/self/mountinfo shows nothing mounted on the workspace: the "
                        + "daemon may run in a mount namespace of its own (systemd PrivateMounts=, ProtectSystem=)")
            }
        } catch {
            _ = umount2(path, Int32(UMOUNT_NOFOLLOW))
            throw error
        }
    }

    /// A new image's root is made 0700 like every workspace directory (`mkfs` makes it 0755).
    func restrictRoot() throws(WorkspaceError) {
        let root = try Syscall.openDirectoryWalking(path)
        defer { close(root) }
        if fchmod(root, 0o700) != 0 { throw WorkspaceError.failed("fchmod", path: path, errno: errno) }
    }

    var tools: ToolRunner { ToolRunner(path: path, imagePath: imagePath) }
}
