import Foundation
import SandboxPolicy
import SandcastleConfig
import Workspaces

#if canImport(Glibc)
import Glibc
#endif

extension Doctor {
    /// How to give the workspace root project quotas, for the fixes below.
    static func projectQuotaFix(_ root: String) -> String {
        "put the workspace root on a file system with project quotas, no mount per session needed: ext4 made with "
            + "`mkfs.ext4 -O quota,project DEVICE` and mounted with `prjquota` (an existing one: `tune2fs -O quota,project "
            + "DEVICE` while unmounted), or XFS mounted with `pquota`; e.g. in /etc/fstab `DEVICE \(root) ext4 "
            + "defaults,prjquota 0 2` (README, \"Workspace disk limits\"), then restart the daemon"
    }

    /// Whether workspaces have limits, and whether every limit the profiles ask for can be enforced
    /// by the backend `[workspaces] quota` resolves to on this host.
    static func workspaceLimitsCheck(_ configuration: DaemonConfiguration, profiles: [SandboxProfile]) -> DoctorCheck {
        let name = "workspace limits"
        let root = configuration.workspaceRoot
        let support = ProjectQuota.support(at: root)
        let backend = WorkspaceQuotaBackend.resolve(
            setting: configuration.workspaceQuota.rawValue, workspaceRoot: root, imageDirectory: configuration.workspaceImageDirectory)
        if configuration.workspaceQuota == .project, !support.isEnforced {
            return .fail(
                name, "[workspaces] quota = \"project\", but \(root) has \(support): the daemon refuses to start",
                fix: projectQuotaFix(root))
        }
        let limited = profiles.filter { !WorkspaceLimits($0).isUnlimited }
        let unlimited = profiles.filter { WorkspaceLimits($0).isUnlimited }.map(\.name).sorted()
        var problems: [String] = []
        for profile in limited.sorted(by: { $0.name < $1.name }) {
            let limits = WorkspaceLimits(profile)
            switch backend {
            case .none:
                problems.append("\(profile.name) asks for workspace limits, and nothing enforces them here (its sessions are refused)")
            case .image:
                if limits.inodes != nil {
                    problems.append("\(profile.name) sets workspace_inodes, which workspace images cannot enforce")
                }
                if let bytes = limits.bytes, bytes > 16 << 40 {
                    problems.append("\(profile.name)'s workspace_size is above the 16 TiB an image can hold")
                }
            case .project:
                var info = statvfs()
                if let bytes = limits.bytes, statvfs(root, &info) == 0,
                    bytes > Int64(info.f_blocks) * Int64(info.f_frsize)
                {
                    problems.append(
                        "\(profile.name)'s workspace_size (\(bytes) bytes) is larger than the workspace root's file system "
                            + "(\(Int64(info.f_blocks) * Int64(info.f_frsize)) bytes): the disk fills before the limit")
                }
            }
        }
        if !problems.isEmpty {
            return .fail(
                name, problems.joined(separator: "; "),
                fix: backend == .project
                    ? "lower workspace_size in those profiles below the file system's size"
                    : projectQuotaFix(root) + "; or remove those limits from the profiles")
        }
        switch backend {
        case .none:
            return .warn(
                name,
                "workspaces are unlimited: \(root) (\(support.fileSystem)) has no project quotas on and no image directory "
                    + "is set, so one session can fill the disk under it, the daemon's store included",
                fix: projectQuotaFix(root) + "; and give the profiles workspace_size and workspace_inodes")
        case .image where !unlimited.isEmpty, .project where !unlimited.isEmpty:
            return .warn(
                name,
                "\(backend) limits are available, but profile(s) \(unlimited.joined(separator: ", ")) set no workspace_size or "
                    + "workspace_inodes: their workspaces are unlimited",
                fix: "set workspace_size (and workspace_inodes) in those profiles (Policies/README.md) and reload the daemon")
        default:
            return .ok(
                name,
                "\(backend == .project ? "project quotas (\(support.fileSystem))" : "workspace images") enforce every profile's "
                    + "limits: " + limited.map(\.name).sorted().joined(separator: ", "))
        }
    }
}
