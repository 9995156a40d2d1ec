import Dispatch
import Glibc
import Logging
import SandboxPolicy

/// Limits a workspace's size by backing it with an ext4 image of its own, loop-mounted
/// `nosuid,nodev` on the workspace directory: writes beyond the limit fail with ENOSPC.
///
/// Per workspace `name` there is one sparse image, `<imageDirectory>/<name>.ext4` (root-owned,
/// mode 0600, created with `O_CREAT | O_EXCL | O_NOFOLLOW`), kept across sessions:
/// - The workspace directory must be empty whenever the image is mounted on it: mounted over files,
///   an image would hide them.
/// - **new**: the image is made under `<name>.ext4.new`, formatted with
///   `mkfs.ext4 -q -F -b 4096 -m 0 -E root_owner=UID:GID` (the directory's owner, no reserved
///   blocks), linked into place (never over an existing image), mounted, and its root set to mode
///   0700.
/// - **mounted already** with this image (`/proc/self/mountinfo` has the workspace path as a mount
///   point exactly, its source is `/dev/loopN`, and `/sys/block/loopN/loop/backing_file` is the
///   image): nothing to do, unless the limit grew: then the file is extended, the loop device told
///   (`losetup -c`) and the file system grown online (`resize2fs /dev/loopN`). Online growth needs
///   CAP_SYS_RESOURCE (ext4's resize ioctl checks it); without it the call is refused before
///   anything changes, and the workspace grows at its next mount after a release.
/// - **not mounted**: the image is checked (`e2fsck -f -p`) and resized first when the limit changed
///   (`resize2fs <image> <size>`), then mounted with `mount -t ext4 -o loop,nosuid,nodev`.
/// - **smaller limit**: an ext4 file system cannot shrink while mounted, so a smaller limit is
///   refused (`busy`) until the workspace is released; unmounted, the image shrinks if its files
///   fit, and is refused (`invalidSizeLimit`) if they do not. Nothing is ever deleted to make room.
///
/// Why `mount(8)` and not `mount(2)` with `LOOP_CTL_GET_FREE` + `LOOP_CONFIGURE`: util-linux already
/// handles the race for a free loop device (another process may take it between the two calls),
/// kernels without `LOOP_CONFIGURE`, device nodes that appear late, and it sets `autoclear`, so
/// unmounting detaches the loop device. What was done is checked afterwards from the kernel's own
/// tables (mountinfo, sysfs), not from the tool's word. Unmounting is `umount2(2)`, whose errno
/// (EBUSY) needs no parsing.
///
/// **Privileges**: mounting, unmounting and configuring loop devices need `CAP_SYS_ADMIN` in the
/// initial user namespace (plus access to `/dev/loop-control` and `/dev/loop*`), growing a mounted
/// image needs `CAP_SYS_RESOURCE`, and the mount must be made in the mount namespace the Docker engine
/// resolves bind sources in (the host's): a daemon unit with `PrivateMounts=`, `ProtectSystem=`,
/// `PrivateTmp=` or similar gets a namespace of its own, and its mounts would not reach the engine.
/// Creating and formatting the image needs only write access to `imageDirectory`.
///
/// **Concurrency**: every step blocks (processes, mount calls, file I/O), so each call runs whole on
/// one serial `DispatchQueue` of this limiter, never on Swift's cooperative pool, and callers await
/// it through a continuation. The queue also serialises calls: two sessions of one workspace never
/// mount it twice. Use one limiter per daemon for a given image directory. Cancellation is not
/// checked: a call, once queued, finishes.
///
/// After `limit` has mounted the image, the `ResolvedWorkspace` passed in still holds the directory
/// *under* the mount: resolve the workspace again before `verifyUnchanged()`.
public struct Ext4ImageWorkspaceLimiter: WorkspaceSizeLimiter {
    /// Where the images live: absolute, normalised, outside the workspace root, writable by the
    /// daemon alone. Made (mode 0700) at first use if its parent exists.
    public let imageDirectory: String
    public let workspaceRoot: String
    /// How often `release` tries `umount2` again when the workspace is busy, and how long it waits
    /// between tries.
    public var unmountAttempts = 5
    public var unmountRetryDelay: Duration = .milliseconds(200)

    let logger: Logger
    let loopDevices: LoopDevices
    private let queue = BlockingQueue(label: "sandcastle.workspace-quota")

    /// - Throws: `WorkspaceError.invalidRoot` when `imageDirectory` is not absolute and normalised,
    ///   is a system directory, or overlaps the workspace root.
    public init(imageDirectory: String, resolver: WorkspaceResolver, logger: Logger) throws(WorkspaceError) {
        try self.init(imageDirectory: imageDirectory, workspaceRoot: resolver.root, logger: logger, loopDevices: .init())
    }

    init(imageDirectory: String, workspaceRoot: String, logger: Logger, loopDevices: LoopDevices)
        throws(WorkspaceError)
    {
        let directory =
            imageDirectory.count > 1 && imageDirectory.hasSuffix("/") ? String(imageDirectory.dropLast()) : imageDirectory
        guard HostPathGuard.isNormalizedAbsolute(directory), directory != "/" else {
            throw WorkspaceError(
                .invalidRoot, path: directory,
                "the workspace image directory must be an absolute path without . or .. or //, and not /")
        }
        if HostPathGuard.refusal(for: directory) != nil {
            throw WorkspaceError(
                .invalidRoot, path: directory,
                "the workspace image directory overlaps a system directory or the Docker socket; "
                    + "choose e.g. /var/lib/sandcastle/workspace-images")
        }
        if directory == workspaceRoot || directory.hasPrefix(workspaceRoot + "/")
            || workspaceRoot.hasPrefix(directory + "/")
        {
            throw WorkspaceError(
                .invalidRoot, path: directory,
                "the workspace image directory must lie outside the workspace root \(workspaceRoot) "
                    + "(and not contain it): a workspace must never see the images")
        }
        self.imageDirectory = directory
        self.workspaceRoot = workspaceRoot
        self.logger = logger
        self.loopDevices = loopDevices
    }

    /// The image file of the workspace `name`.
    public func imagePath(forWorkspace name: String) -> String {
        imageDirectory + "/" + Ext4Image.fileName(forWorkspace: name)
    }

    public func limit(_ workspace: ResolvedWorkspace, toBytes bytes: Int64, use: WorkspaceMount.Use)
        async throws(WorkspaceError) -> WorkspaceMount
    {
        try await queue.run { () throws(WorkspaceError) in
            try LimitOperation(limiter: self, workspace: workspace).limit(toBytes: bytes)
            return WorkspaceMount(hostPath: workspace.path, use: use, enforcedSizeLimitBytes: bytes)
        }
    }

    /// Unmounts the workspace `name`'s image (if mounted), makes sure no loop device is left bound to
    /// it, and with `deletingImage` deletes the image: for when the workspace is deleted. Call it
    /// once no session uses the workspace.
    ///
    /// - Throws: `busy` when the workspace stays busy after `unmountAttempts` tries (an open file, a
    ///   running session: stop it first), or when the image is still attached after the unmount
    ///   (another mount namespace, such as a container's, still holds it); `mountConflict` when
    ///   something else is mounted there.
    public func release(workspace name: String, deletingImage: Bool) async throws(WorkspaceError) {
        try WorkspaceResolver.checkName(name)
        try await queue.run { () throws(WorkspaceError) in
            try ReleaseOperation(limiter: self, name: name).release(deletingImage: deletingImage)
        }
    }
}
