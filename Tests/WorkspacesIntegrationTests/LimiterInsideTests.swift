import Foundation
import Glibc
import SandboxPolicy
import Testing

@testable import Workspaces

/// The limiter for real: images, loop devices, mounts. These tests run only inside the container
/// that `LimiterInContainerTests` starts (see `InContainer`); on the host they are skipped.
@Suite(
    "ext4 limiter, inside the test container", .serialized,
    .enabled(if: InContainer.isInside, "runs only inside the container LimiterInContainerTests starts"))
struct LimiterInsideTests {
    static let mebibyte: Int64 = 1 << 20

    func code(_ body: () async throws(WorkspaceError) -> Void) async -> WorkspaceError.Code? {
        do {
            try await body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test("a new workspace gets a sparse 0600 image, mounted nosuid,nodev, full at the limit")
    func limit() async throws {
        let scratch = try Scratch("limit")
        let workspace = try scratch.workspace()
        let mount = try await scratch.limiter.limit(workspace, toBytes: 32 * Self.mebibyte, use: .session)
        #expect(mount == WorkspaceMount(hostPath: workspace.path, use: .session, enforcedSizeLimitBytes: 32 * Self.mebibyte))

        // The image: root's, 0600, sparse, exactly the limit.
        let imagePath = scratch.limiter.imagePath(forWorkspace: "demo")
        var image = stat()
        #expect(lstat(imagePath, &image) == 0)
        #expect(image.st_mode & S_IFMT == S_IFREG && image.st_mode & 0o7777 == 0o600 && image.st_uid == 0)
        #expect(image.st_size == 32 * Self.mebibyte)
        #expect(Int64(image.st_blocks) * 512 < 32 * Self.mebibyte, "allocated \(image.st_blocks * 512)")

        // The mount, as the kernel reports it.
        let table = scratch.table
        let entry = try #require(table.topMount(at: workspace.path))
        #expect(table.mountCount(at: workspace.path) == 1)
        #expect(entry.fileSystemType == "ext4")
        #expect(entry.options.contains("nosuid") && entry.options.contains("nodev"))
        #expect(!entry.options.contains("noexec") && entry.options.contains("rw"))
        let device = try #require(LoopDevices.deviceName(ofSource: entry.source))
        #expect(LoopDevices().backingFile(of: device) == imagePath)

        // Its root belongs to the workspace's uid, mode 0700 like every workspace.
        var root = stat()
        #expect(stat(workspace.path, &root) == 0)
        #expect(root.st_uid == Scratch.owner.uid && root.st_gid == Scratch.owner.gid && root.st_mode & 0o7777 == 0o700)

        // Asking again changes nothing: no second mount.
        let again = try await scratch.limiter.limit(scratch.workspace(), toBytes: 32 * Self.mebibyte, use: .poolSlot)
        #expect(again.enforcedSizeLimitBytes == 32 * Self.mebibyte && again.use == .poolSlot)
        #expect(scratch.table.mountCount(at: workspace.path) == 1)

        // The workspace uid can write in it ...
        let asOwner = try shell([
            "/usr/bin/setpriv", "--reuid=\(Scratch.owner.uid)", "--regid=\(Scratch.owner.gid)", "--clear-groups",
            "/bin/busybox", "dd", "if=/dev/zero", "of=\(workspace.path)/owned", "bs=1048576", "count=2",
        ])
        #expect(asOwner.status == 0, "\(asOwner.output)")
        // ... and nobody, root included (no reserved blocks), gets past the limit: ENOSPC.
        let filled = fill(workspace.path + "/fill")
        #expect(filled.errno == ENOSPC, "stopped with errno \(filled.errno) after \(filled.bytes) bytes")
        #expect(filled.bytes + 2 * Self.mebibyte <= 32 * Self.mebibyte)
        #expect(filled.bytes >= 16 * Self.mebibyte, "only \(filled.bytes) bytes fit in a 32 MiB image")
        let more = try shell([
            "/usr/bin/setpriv", "--reuid=\(Scratch.owner.uid)", "--regid=\(Scratch.owner.gid)", "--clear-groups",
            "/bin/busybox", "dd", "if=/dev/zero", "of=\(workspace.path)/more", "bs=1048576", "count=1",
        ])
        #expect(more.status != 0 && more.output.contains("No space left on device"), "\(more.output)")
        #expect(unlink(workspace.path + "/fill") == 0)
    }

    @Test("nodev and nosuid are in force on the workspace, and not on the container's own /tmp")
    func nosuidNodev() async throws {
        let scratch = try Scratch("flags")
        let workspace = try scratch.workspace()
        _ = try await scratch.limiter.limit(workspace, toBytes: 32 * Self.mebibyte, use: .session)
        let control = scratch.base + "-control"
        try FileManager.default.createDirectory(atPath: control, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: control) }
        chmod(control, 0o755)

        // nodev: a device node can be made, but not opened.
        for directory in [workspace.path, control] {
            #expect(mknod(directory + "/null", S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0)
        }
        let blocked = open(workspace.path + "/null", O_RDWR | O_CLOEXEC)
        let blockedErrno = errno
        #expect(blocked == -1 && blockedErrno == EACCES, "open on the workspace: \(blocked), errno \(blockedErrno)")
        let opened = open(control + "/null", O_RDWR | O_CLOEXEC)
        #expect(opened >= 0, "the control device node did not open (errno \(errno)): the check proves nothing")
        if opened >= 0 { close(opened) }

        // nosuid: a root-owned setuid `id` runs with the caller's euid from the workspace, with
        // euid 0 from the control directory.
        var euid: [String: String] = [:]
        for directory in [workspace.path, control] {
            let copy = directory + "/suid-id"
            try FileManager.default.copyItem(atPath: "/usr/bin/id", toPath: copy)
            #expect(chown(copy, 0, 0) == 0 && chmod(copy, 0o4755) == 0)
            let run = try shell([
                "/usr/bin/setpriv", "--reuid=\(Scratch.owner.uid)", "--regid=\(Scratch.owner.gid)", "--clear-groups",
                copy, "-u",
            ])
            #expect(run.status == 0, "\(run.output)")
            euid[directory] = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(euid[control] == "0", "the setuid control did not give euid 0: the check proves nothing")
        #expect(euid[workspace.path] == String(Scratch.owner.uid))

        // A bind of the workspace, made the way runc makes the session's rw bind (MS_BIND|MS_REC,
        // then rprivate, no remount), keeps nosuid and nodev: the kernel copies per-mount flags.
        let bound = scratch.base + "/bound"
        try FileManager.default.createDirectory(atPath: bound, withIntermediateDirectories: true)
        #expect(Glibc.mount(workspace.path, bound, nil, UInt(MS_BIND | MS_REC), nil) == 0)
        #expect(Glibc.mount(nil, bound, nil, UInt(MS_PRIVATE | MS_REC), nil) == 0)
        let bind = try #require(scratch.table.topMount(at: bound))
        #expect(bind.options.contains("nosuid") && bind.options.contains("nodev"), "\(bind.options)")
        let throughBind = open(bound + "/null", O_RDWR | O_CLOEXEC)
        let throughBindErrno = errno
        #expect(throughBind == -1 && throughBindErrno == EACCES)
    }

    @Test("a larger limit grows the mounted image; a smaller one waits for release; images are reused")
    func growShrinkReuse() async throws {
        let scratch = try Scratch("grow")
        let limiter = scratch.limiter
        let workspace = try scratch.workspace()
        let imagePath = limiter.imagePath(forWorkspace: "demo")
        _ = try await limiter.limit(workspace, toBytes: 32 * Self.mebibyte, use: .session)
        #expect(fill(workspace.path + "/keep", limit: 4 * Self.mebibyte).errno == 0)

        var image = stat()
        if Capabilities.effective(Capabilities.sysResource) {
            // Online growth: the same mount, now room for 40 MiB more.
            _ = try await limiter.limit(scratch.workspace(), toBytes: 64 * Self.mebibyte, use: .session)
            #expect(scratch.table.mountCount(at: workspace.path) == 1)
        } else {
            // Online growth needs CAP_SYS_RESOURCE, which no container gets on a host whose dockerd
            // lacks it: the limiter refuses before changing anything, and growth happens offline.
            let online = await code { () throws(WorkspaceError) in
                _ = try await limiter.limit(scratch.workspace(), toBytes: 64 * Self.mebibyte, use: .session)
            }
            #expect(online == .sizeLimitUnavailable)
            #expect(lstat(imagePath, &image) == 0 && image.st_size == 32 * Self.mebibyte)
            #expect(scratch.table.mountCount(at: workspace.path) == 1)
            try await limiter.release(workspace: "demo", deletingImage: false)
            _ = try await limiter.limit(scratch.workspace(), toBytes: 64 * Self.mebibyte, use: .session)
        }
        #expect(lstat(imagePath, &image) == 0 && image.st_size == 64 * Self.mebibyte)
        #expect(fill(workspace.path + "/big", limit: 40 * Self.mebibyte).errno == 0)

        // Shrinking needs the file system unmounted.
        let shrinkMounted = await code { () throws(WorkspaceError) in
            _ = try await limiter.limit(scratch.workspace(), toBytes: 32 * Self.mebibyte, use: .session)
        }
        #expect(shrinkMounted == .busy)

        // Released: unmounted and detached, the image kept.
        try await limiter.release(workspace: "demo", deletingImage: false)
        #expect(scratch.table.topMount(at: workspace.path) == nil)
        #expect(LoopDevices().devices(backedBy: imagePath).isEmpty)
        #expect(access(imagePath, F_OK) == 0)

        // Unmounted, a shrink below what the files use is refused and changes nothing ...
        let shrinkFull = await code { () throws(WorkspaceError) in
            _ = try await limiter.limit(scratch.workspace(), toBytes: 32 * Self.mebibyte, use: .session)
        }
        #expect(shrinkFull == .invalidSizeLimit)
        #expect(lstat(imagePath, &image) == 0 && image.st_size == 64 * Self.mebibyte)
        #expect(scratch.table.topMount(at: workspace.path) == nil)

        // ... and, once the files fit, it shrinks; the image (and "keep") is the same one.
        _ = try await limiter.limit(scratch.workspace(), toBytes: 64 * Self.mebibyte, use: .session)
        #expect(unlink(workspace.path + "/big") == 0)
        try await limiter.release(workspace: "demo", deletingImage: false)
        _ = try await limiter.limit(scratch.workspace(), toBytes: 32 * Self.mebibyte, use: .session)
        #expect(lstat(imagePath, &image) == 0 && image.st_size == 32 * Self.mebibyte)
        var keep = stat()
        #expect(stat(workspace.path + "/keep", &keep) == 0 && keep.st_size == 4 * Self.mebibyte)
        let refilled = fill(workspace.path + "/fill")
        #expect(refilled.errno == ENOSPC && refilled.bytes + 4 * Self.mebibyte <= 32 * Self.mebibyte)

        // Deleting the workspace: release with the image.
        try await limiter.release(workspace: "demo", deletingImage: true)
        #expect(access(imagePath, F_OK) != 0)
        #expect(LoopDevices().devices(backedBy: imagePath).isEmpty)
    }

    @Test("release retries a busy workspace, then says so; it works once the file is closed")
    func busy() async throws {
        let scratch = try Scratch("busy")
        var limiter = scratch.limiter
        limiter.unmountAttempts = 3
        limiter.unmountRetryDelay = .milliseconds(20)
        let workspace = try scratch.workspace()
        _ = try await limiter.limit(workspace, toBytes: 16 * Self.mebibyte, use: .session)
        let held = open(workspace.path + "/held", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        #expect(held >= 0)
        let busy = await code { () throws(WorkspaceError) in try await limiter.release(workspace: "demo", deletingImage: false) }
        #expect(busy == .busy)
        #expect(scratch.table.topMount(at: workspace.path) != nil)
        close(held)
        try await limiter.release(workspace: "demo", deletingImage: false)
        #expect(scratch.table.topMount(at: workspace.path) == nil)
        #expect(LoopDevices().devices(backedBy: limiter.imagePath(forWorkspace: "demo")).isEmpty)
    }

    @Test("a workspace with files, or with something else mounted on it, gets no image")
    func refusals() async throws {
        let scratch = try Scratch("refuse")
        let full = try scratch.workspace("full")
        #expect(FileManager.default.createFile(atPath: full.path + "/old", contents: Data("x".utf8)))
        let notEmpty = await code { () throws(WorkspaceError) in
            _ = try await scratch.limiter.limit(full, toBytes: 32 * Self.mebibyte, use: .session)
        }
        #expect(notEmpty == .notEmpty)
        #expect(access(scratch.limiter.imagePath(forWorkspace: "full"), F_OK) != 0)

        let foreign = try scratch.workspace("foreign")
        #expect(Glibc.mount("tmpfs", foreign.path, "tmpfs", 0, "size=1m") == 0)
        let limitForeign = await code { () throws(WorkspaceError) in
            _ = try await scratch.limiter.limit(scratch.workspace("foreign"), toBytes: 32 * Self.mebibyte, use: .session)
        }
        #expect(limitForeign == .mountConflict)
        let releaseForeign = await code { () throws(WorkspaceError) in
            try await scratch.limiter.release(workspace: "foreign", deletingImage: false)
        }
        #expect(releaseForeign == .mountConflict)
        #expect(scratch.table.topMount(at: foreign.path)?.fileSystemType == "tmpfs")
    }
}
