import Foundation
import SandboxPolicy
import Workspaces

#if canImport(Glibc)
import Glibc
#endif

/// The host mounts of the warm pool: the seam between the pool's logic and mount(2).
///
/// ``LinuxSlotMounter`` is the real implementation; it needs CAP_SYS_ADMIN in the host's mount
/// namespace (the one dockerd runs in). Tests that run on a shared development host substitute a
/// recorder: mounts are only ever made inside a Docker-in-Docker container.
public protocol SlotMounter: Sendable {
    /// Makes `root` (created if missing) a mount point with shared propagation, so that the engine
    /// can bind slot directories under it with `rslave` propagation and mounts made on a slot
    /// directory later reach the container. Idempotent.
    func preparePoolRoot(_ root: String) throws(PoolError)

    /// Bind-mounts the directory `workspace` holds open onto `slotDirectory`, then checks that the
    /// slot directory now is that very directory (device and inode).
    func mountWorkspace(_ workspace: ResolvedWorkspace, onto slotDirectory: String) throws(PoolError)

    /// Unmounts everything mounted on `slotDirectory` (lazily when busy). Nothing mounted is fine.
    func unmountAll(_ slotDirectory: String) throws(PoolError)

    /// Whether something is mounted on `path` (a mount point in this mount namespace).
    func isMountPoint(_ path: String) -> Bool
}

/// ``SlotMounter`` with mount(2) and umount2(2).
///
/// The workspace is bound from `/proc/self/fd/N`, the descriptor `WorkspaceResolver` opened
/// walking every component with `O_NOFOLLOW`: the kernel binds exactly that directory, so a
/// symlink swapped into the workspace root afterwards cannot redirect the mount. The bind is not
/// recursive: nothing mounted below the workspace comes along.
public struct LinuxSlotMounter: SlotMounter {
    public init() {}

    public func preparePoolRoot(_ root: String) throws(PoolError) {
        do {
            try FileManager.default.createDirectory(
                atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw PoolError(.mount, "cannot create the pool root \(root): \(error)", underlying: error)
        }
        if !isMountPoint(root) {
            try call("bind \(root) onto itself", mount(root, root, nil, UInt(MS_BIND), nil))
        }
        try call("make \(root) a shared mount", mount(nil, root, nil, UInt(MS_SHARED), nil))
    }

    public func mountWorkspace(_ workspace: ResolvedWorkspace, onto slotDirectory: String) throws(PoolError) {
        let source = "/proc/self/fd/\(workspace.descriptor)"
        try call(
            "bind workspace \(workspace.name) onto the pool slot \(slotDirectory)",
            mount(source, slotDirectory, nil, UInt(MS_BIND), nil))
        let fd = open(slotDirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        var info = stat()
        let same = fd >= 0 && fstat(fd, &info) == 0 && UInt64(info.st_dev) == workspace.device
            && UInt64(info.st_ino) == workspace.inode
        if fd >= 0 { close(fd) }
        guard same else {
            try? unmountAll(slotDirectory)
            throw PoolError(
                .mount,
                "after binding workspace \(workspace.name) onto \(slotDirectory), the slot is not that workspace "
                    + "(device/inode \(workspace.device)/\(workspace.inode), found \(info.st_dev)/\(info.st_ino)); unmounted again")
        }
    }

    public func unmountAll(_ slotDirectory: String) throws(PoolError) {
        // Mounts can be stacked; each umount takes the top one.
        for _ in 0..<16 {
            if umount2(slotDirectory, Int32(UMOUNT_NOFOLLOW)) == 0 { continue }
            let error = errno
            if error == EINVAL || error == ENOENT { return }  // nothing (more) mounted there
            if error == EBUSY {
                if umount2(slotDirectory, Int32(MNT_DETACH) | Int32(UMOUNT_NOFOLLOW)) == 0 { continue }
            }
            throw PoolError(.mount, "cannot unmount \(slotDirectory): \(String(cString: strerror(errno)))")
        }
        throw PoolError(.mount, "\(slotDirectory) still has mounts after 16 unmounts; look at /proc/self/mountinfo")
    }

    public func isMountPoint(_ path: String) -> Bool {
        // Read to the end: procfs files report size 0, which String(contentsOfFile:) may trust.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/mountinfo") else { return false }
        defer { try? handle.close() }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return MountInfo.mountPoints(text).contains(path)
    }

    private func call(_ what: String, _ result: Int32) throws(PoolError) {
        guard result == 0 else {
            let error = errno
            let hint = error == EPERM ? " (the daemon needs CAP_SYS_ADMIN in the host's mount namespace for the warm pool)" : ""
            throw PoolError(.mount, "cannot \(what): \(String(cString: strerror(error)))\(hint)")
        }
    }
}

/// Reads `/proc/self/mountinfo`.
enum MountInfo {
    /// The mount points (field 5), with the kernel's octal escapes (`\040` for a space) decoded.
    static func mountPoints(_ text: String) -> Set<String> {
        var points = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { continue }
            points.insert(unescape(fields[4]))
        }
        return points
    }

    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count {
                let digits = utf8[(index + 1)...(index + 3)]
                if digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }),
                    let value = UInt8(String(decoding: digits, as: UTF8.self), radix: 8)
                {
                    bytes.append(value)
                    index += 4
                    continue
                }
            }
            bytes.append(utf8[index])
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
