import Foundation
import SandcastleTestSupport
import Testing

@testable import Workspaces

/// How `[workspaces] quota` resolves, and what a file system without project quotas says (the
/// real ones are exercised inside Docker-in-Docker, `ProjectQuotaDaemonInsideTests`).
@Suite struct QuotaBackendTests {
    @Test func settingsResolveOnAHostWithoutProjectQuotas() throws {
        let directory = try TemporaryDirectory()
        let support = ProjectQuota.support(at: directory.path)
        try #require(!support.isEnforced, "this host's \(directory.path) has project quotas on; the cases below assume not")
        let root = directory.path + "/not/made/yet"
        #expect(WorkspaceQuotaBackend.resolve(setting: "auto", workspaceRoot: root, imageDirectory: nil) == .none)
        #expect(WorkspaceQuotaBackend.resolve(setting: "auto", workspaceRoot: root, imageDirectory: "/var/lib/x") == .image)
        #expect(WorkspaceQuotaBackend.resolve(setting: "image", workspaceRoot: root, imageDirectory: nil) == .none)
        #expect(WorkspaceQuotaBackend.resolve(setting: "none", workspaceRoot: root, imageDirectory: "/var/lib/x") == .none)
        #expect(WorkspaceQuotaBackend.resolve(setting: "project", workspaceRoot: root, imageDirectory: nil) == .project)
        // A path not made yet is asked of its nearest existing parent.
        #expect(ProjectQuota.support(at: root).fileSystem == support.fileSystem)
        #expect(ProjectQuota.support(at: "/proc").description.contains("no project quotas"))
    }

    @Test func usageIsFullWithinABlockOfALimit() {
        let limits = WorkspaceLimits(bytes: 1 << 20, inodes: 10)
        #expect(!WorkspaceUsage(usedBytes: 512 << 10, usedInodes: 3, limits: limits).isFull)
        #expect(WorkspaceUsage(usedBytes: (1 << 20) - 1024, usedInodes: 3, limits: limits).isFull)
        #expect(WorkspaceUsage(usedBytes: 0, usedInodes: 10, limits: limits).isFull)
        #expect(!WorkspaceUsage(usedBytes: 1 << 40, usedInodes: 1 << 30, limits: WorkspaceLimits()).isFull)
    }
}
