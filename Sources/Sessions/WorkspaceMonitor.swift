import Logging
import SandboxPolicy
import ServiceLifecycle
import Synchronization
import Workspaces

/// What the workspace monitor reports for metrics (the daemon maps it to Prometheus).
public protocol WorkspaceMetrics: Sendable {
    /// The workspaces of live sessions of `profile` together use `usage` (limits summed over those
    /// that have one), and `full` of them are at a limit.
    func workspacesSampled(profile: String, usedBytes: Int64, limitBytes: Int64, usedInodes: Int64, limitInodes: Int64, full: Int)
}

/// Samples every workspace's usage at an interval: per-profile metrics, and one `workspace.full`
/// event each time a workspace reaches a limit (again only after it dropped below). When the
/// policies changed (SIGHUP), it first applies their limits to the running sessions' workspaces, so
/// a raised `workspace_size` lets a full session write again within one interval.
public final class WorkspaceMonitor: Service, Sendable {
    let manager: SessionManager
    let metrics: any WorkspaceMetrics
    let interval: Duration
    private let full = Mutex<Set<String>>([])
    private let applied = Mutex<PolicySet?>(nil)

    public init(manager: SessionManager, metrics: any WorkspaceMetrics, interval: Duration = .seconds(5)) {
        self.manager = manager
        self.metrics = metrics
        self.interval = interval
    }

    public func run() async throws {
        // Returning early would end the service group: with nothing to sample, wait for shutdown.
        guard manager.workspaceBackend != .none else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.sampleOnce()
                do {
                    try await Task.sleep(for: self.interval)
                } catch {
                    return
                }
            }
        }
    }

    /// One pass: returns the workspaces that became full in it.
    @discardableResult
    public func sampleOnce() async -> [String] {
        let policies = manager.policies.current
        let changed = applied.withLock { last in
            defer { last = policies }
            return last != nil && last != policies
        }
        if changed { await manager.applyWorkspaceLimits() }
        guard let reports = try? await manager.workspaceReports() else { return [] }
        let nowFull = Set(reports.filter { $0.usage?.isFull == true }.map(\.name))
        let newlyFull = full.withLock { known in
            defer { known = nowFull }
            return nowFull.subtracting(known)
        }
        for report in reports where newlyFull.contains(report.name) {
            await manager.recordWorkspaceFull(report)
        }
        var byProfile: [String: (Int64, Int64, Int64, Int64, Int)] = [:]
        for report in reports {
            guard let usage = report.usage else { continue }
            for profile in report.profiles {
                var sums = byProfile[profile] ?? (0, 0, 0, 0, 0)
                sums.0 += usage.usedBytes
                sums.1 += usage.limits.bytes ?? 0
                sums.2 += usage.usedInodes
                sums.3 += usage.limits.inodes ?? 0
                sums.4 += usage.isFull ? 1 : 0
                byProfile[profile] = sums
            }
        }
        for profile in manager.policies.current.profiles.keys {
            let sums = byProfile[profile] ?? (0, 0, 0, 0, 0)
            metrics.workspacesSampled(
                profile: profile, usedBytes: sums.0, limitBytes: sums.1, usedInodes: sums.2, limitInodes: sums.3, full: sums.4)
        }
        return newlyFull.sorted()
    }
}
