import Foundation
import SandcastleConfig
import HostHardening
import Logging
import Workspaces

#if canImport(Glibc)
import Glibc
#endif

extension Daemon {
    /// What `configuration` makes the daemon need from the host beyond its fixed capabilities.
    /// A warm pool (any `[[pool.targets]]` entry: bind mounts into slots) sets `mounts` too.
    public static func hardeningNeeds(for configuration: DaemonConfiguration) -> HostHardening.Needs {
        let backend = workspaceQuotaBackend(for: configuration)
        return HostHardening.Needs(
            mounts: backend == .image || configuration.pool.isEnabled,
            privilegedPort: (configuration.tcpAddress?.port ?? 1024) < 1024, projectQuotas: backend == .project)
    }

    /// The start-up hardening: run first thing in `main`, while the process has one thread.
    public static func harden(_ configuration: DaemonConfiguration, logger: Logger) throws -> HostHardening.Report {
        let needs = hardeningNeeds(for: configuration)
        let report = try HostHardening.apply(needs)
        logger.info(
            "self-hardened",
            metadata: [
                "hardening.needs": "\(needs)",
                "hardening.capabilities": "\(report.kept.map(\.name).joined(separator: ","))",
                "hardening.denied_syscalls": "\(report.denied.count)",
                "hardening.bounding_set_reduced": "\(report.boundingSetReduced)",
            ])
        return report
    }

    /// Mounts the daemon makes must reach the engine's mount namespace. Under systemd, any
    /// file-system sandboxing option (ProtectSystem=, PrivateTmp=, ...) runs the daemon in a
    /// namespace that is a slave of the host's: its mounts never propagate out, and a container
    /// would see an empty workspace. That is refused at start-up rather than found out later.
    static func checkMountPropagation(_ configuration: DaemonConfiguration, logger: Logger) throws {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        guard let problem = mountPropagationProblem(configuration, mountinfo: mountinfo) else { return }
        if ProcessInfo.processInfo.environment["INVOCATION_ID"] != nil {
            throw DaemonError.startup(problem)
        }
        logger.warning("\(problem)")
    }

    /// Why mounts the daemon makes (loop mounts under the workspace root, slot binds under the pool
    /// root) would not reach the engine, if they would not.
    static func mountPropagationProblem(_ configuration: DaemonConfiguration, mountinfo: String) -> String? {
        var mounted: [(path: String, reason: String, without: String)] = []
        if workspaceQuotaBackend(for: configuration) == .image {
            mounted.append((configuration.workspaceRoot, "paths.workspace_images is set", "set paths.workspace_images = \"\""))
        }
        if configuration.pool.isEnabled {
            mounted.append((configuration.poolRoot, "a warm pool is configured", "remove the [[pool.targets]] entries"))
        }
        for (path, reason, without) in mounted {
            guard let mount = MountInfo.covering(path, in: mountinfo), mount.isSlave else { continue }
            return """
                the daemon must make mounts the Docker engine sees (\(reason)), but the mount \(mount.mountPoint) \
                holding \(path) is a slave of another mount namespace (systemd's ProtectSystem=, PrivateTmp=, \
                ... do that), so its mounts would not reach the engine. Install the drop-in \
                sandcastled.service.d/host-mounts.conf (scripts/install --host-mounts), or \(without) to run \
                without them
                """
        }
        return nil
    }

    /// `--hardening-self-test`: the start-up hardening done (or not, with `--no-self-harden`),
    /// the denied calls tried and every thread's state printed, as `sandcastled` would run.
    public static func printSelfTest(report: HostHardening.Report?) {
        var lines: [String] = []
        if let report {
            lines.append("kept: \(report.kept.map(\.name).joined(separator: ","))")
            lines.append("kept-mask: \(String(HostHardening.mask(of: report.kept), radix: 16))")
            lines.append("denied: \(report.denied.joined(separator: ","))")
        } else {
            lines.append("kept: (not hardened)")
        }
        for probe in HostHardening.probeDeniedCalls() {
            lines.append("probe \(probe.call) \(probe.result) \(probe.errno)")
        }
        for thread in HostHardening.threads() {
            lines.append("\(thread)")
        }
        print(lines.joined(separator: "\n"))
    }

    /// Logs whether every thread runs with the filter and the reduced capabilities; threads
    /// made after hardening inherit both, and this checks it where it matters, in the running
    /// daemon.
    static func verifyThreads(report: HostHardening.Report, logger: Logger) {
        let threads = HostHardening.threads()
        let wanted = HostHardening.mask(of: report.kept)
        let wrong = threads.filter {
            $0.seccomp != 2 || $0.effective & ~wanted != 0 || $0.permitted & ~wanted != 0
                || (report.boundingSetReduced && $0.bounding & ~wanted != 0)
        }
        if wrong.isEmpty {
            logger.info("hardening verified on every thread", metadata: ["hardening.threads": "\(threads.count)"])
        } else {
            logger.error("threads without the hardening: \(wrong.map(\.description).joined(separator: "; "))")
        }
    }
}

/// One line of `/proc/self/mountinfo`, as far as propagation goes.
struct MountInfo: Equatable {
    var mountPoint: String
    /// Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    var tags: [String]

    var isSlave: Bool { tags.contains { $0.hasPrefix("master:") } }

    /// The mount whose mount point is the longest prefix of `path`.
    static func covering(_ path: String, in mountinfo: String) -> MountInfo? {
        var best: MountInfo?
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 6, let separator = fields.firstIndex(of: "-") else { continue }
            let point = unescape(fields[4])
            let inside = point == "/" || path == point || path.hasPrefix(point + "/")
            guard inside, point.count >= (best?.mountPoint.count ?? 0) else { continue }
            best = MountInfo(mountPoint: point, tags: Array(fields[6..<separator]))
        }
        return best
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ field: String) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }
}
