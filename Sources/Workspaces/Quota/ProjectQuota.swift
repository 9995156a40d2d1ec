import CLinuxShims
import Glibc

/// Project quotas on the workspace root's file system, through `quotactl_fd(2)` and the
/// `FS_IOC_FSGETXATTR`/`FS_IOC_FSSETXATTR` ioctls (the C side is `ProjectQuota.c` in CLinuxShims).
///
/// Privileges, as the kernel checks them: setting and reading a project's limits and usage
/// (`Q_SETQUOTA`, `Q_GETQUOTA` with `PRJQUOTA`) need `CAP_SYS_ADMIN` (`check_quotactl_permission`
/// in fs/quota/quota.c); asking whether project quotas are enforced (`Q_XGETQSTATV`) needs nothing; setting a
/// directory's project id and `FS_XFLAG_PROJINHERIT` needs its owner or `CAP_FOWNER`, in the initial
/// user namespace. `quotactl_fd` takes a descriptor, not the block device's path, so it works under
/// systemd's `PrivateDevices=`. Every call may block on the file system: callers run them off
/// Swift's cooperative pool.
public enum ProjectQuota {
    /// The first project id handed to a workspace. Ids below it are left to the administrator
    /// (`/etc/projects`); 0 is the default project, which XFS never enforces.
    public static let firstProjectID: UInt32 = 100_000

    /// What the file system of a directory offers.
    public enum Support: Sendable, Equatable, CustomStringConvertible {
        /// Project quotas are on: ext4 mounted `prjquota`, XFS mounted `pquota` (or `prjquota`).
        case enforced(fileSystem: String)
        /// The file system could have them, but they are off (ESRCH): mount options or mkfs flags.
        case off(fileSystem: String)
        /// This file system has no project quotas at all (tmpfs, overlayfs, btrfs, ...).
        case unsupported(fileSystem: String, errno: Int32)

        public var isEnforced: Bool { if case .enforced = self { true } else { false } }

        public var fileSystem: String {
            switch self {
            case .enforced(let name), .off(let name), .unsupported(let name, _): name
            }
        }

        public var description: String {
            switch self {
            case .enforced(let name): "project quotas on (\(name))"
            case .off(let name): "project quotas off (\(name))"
            case .unsupported(let name, let error): "no project quotas (\(name): \(String(cString: strerror(error))))"
            }
        }
    }

    /// Whether project quotas are on where `path` lies (or would lie: a path not made yet is asked
    /// of its nearest existing parent). Needs no capability.
    public static func support(at path: String) -> Support {
        var candidate = path
        var fd = open(candidate, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        while fd < 0, errno == ENOENT, candidate.count > 1 {
            candidate = String(candidate[..<(candidate.lastIndex(of: "/") ?? candidate.startIndex)])
            if candidate.isEmpty { candidate = "/" }
            fd = open(candidate, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else { return .unsupported(fileSystem: "unknown", errno: errno) }
        defer { close(fd) }
        return support(of: fd)
    }

    static func support(of fd: Int32) -> Support {
        let name = fileSystemName(of: fd)
        let state = CLinuxShims_project_quota_state(fd)
        switch -state {
        case 0: return .enforced(fileSystem: name)
        case ESRCH: return .off(fileSystem: name)
        default:
            // ext4 and XFS always implement quotactl: an error there means quotas are off.
            return name == "ext4" || name == "xfs" ? .off(fileSystem: name) : .unsupported(fileSystem: name, errno: -state)
        }
    }

    /// The file system's name from `fstatfs`'s magic number, for messages.
    static func fileSystemName(of fd: Int32) -> String {
        let magic = CLinuxShims_file_system_magic(fd)
        guard magic >= 0 else { return "unknown" }
        switch UInt(magic) {
        case 0xEF53: return "ext4"
        case 0x5846_5342: return "xfs"
        case 0x0102_1994: return "tmpfs"
        case 0x794C_7630: return "overlay"
        case 0x9123_683E: return "btrfs"
        default: return "type 0x" + String(UInt(magic), radix: 16)
        }
    }

    /// The project id of the file `fd`, and whether new entries beneath inherit it.
    static func project(of fd: Int32) -> (id: UInt32, inherits: Bool)? {
        var id: UInt32 = 0
        var flags: UInt32 = 0
        guard CLinuxShims_get_project(fd, &id, &flags) == 0 else { return nil }
        return (id, flags & 0x200 != 0)  // FS_XFLAG_PROJINHERIT
    }

    /// Sets the project id of `fd` (with `inherit`, for a directory, also FS_XFLAG_PROJINHERIT);
    /// 0 or -errno.
    static func setProject(_ fd: Int32, _ id: UInt32, inherit: Bool) -> Int32 {
        CLinuxShims_set_project(fd, id, inherit ? 1 : 0)
    }

    /// Limits and usage of project `id`; 0 or -errno.
    static func quota(of id: UInt32, on fd: Int32) -> (WorkspaceUsage?, Int32) {
        var raw = CLinuxShims_project_quota()
        let result = CLinuxShims_project_quota_get(fd, id, &raw)
        guard result == 0 else { return (nil, result) }
        let limits = WorkspaceLimits(
            bytes: raw.block_limit_bytes == 0 ? nil : Int64(clamping: raw.block_limit_bytes),
            inodes: raw.inode_limit == 0 ? nil : Int64(clamping: raw.inode_limit))
        return (WorkspaceUsage(usedBytes: Int64(clamping: raw.used_bytes), usedInodes: Int64(clamping: raw.used_inodes), limits: limits), 0)
    }

    /// Sets project `id`'s hard (and soft) limits; nil is none. 0 or -errno.
    static func setQuota(of id: UInt32, on fd: Int32, _ limits: WorkspaceLimits) -> Int32 {
        CLinuxShims_project_quota_set(fd, id, UInt64(limits.bytes ?? 0), UInt64(limits.inodes ?? 0))
    }
}
