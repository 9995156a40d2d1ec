import Foundation
import Testing
import SandcastleTestSupport

@testable import SandcastleCLI

/// `doctor`'s workspace-limits check on this host, whose workspace root (under /tmp) has no project
/// quotas: unlimited workspaces are a WARN with the fix, a limit nothing enforces is a FAIL.
@Suite("doctor: workspace limits")
struct DoctorWorkspaceLimitsTests {
    static func line(_ stdout: String) -> String? {
        stdout.split(separator: "\n").map(String.init).first { !$0.hasPrefix(" ") && $0.dropFirst(6).hasPrefix("workspace limits ") }
    }

    func configure(_ directory: String, policies: String, quota: String = "auto") throws -> String {
        let config = SandcastledProcess.configuration(in: directory, policies: policies) + """
            [workspaces]
            quota = "\(quota)"
            """
        try config.write(toFile: directory + "/sandcastled.toml", atomically: true, encoding: .utf8)
        return directory + "/sandcastled.toml"
    }

    @Test func anUnlimitedRootIsAWarningWithItsFix() async throws {
        let directory = try OfflineCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try configure(directory, policies: Binaries.repositoryRoot.appendingPathComponent("Policies").path)
        let run = try await Binaries.sandcastle(["doctor", "--config", file, "--socket", directory + "/none.sock"])
        let line = try #require(Self.line(run.stdout), "\(run)")
        #expect(line.hasPrefix("WARN") && line.contains("unlimited"), "\(run)")
        #expect(run.stdout.contains("mkfs.ext4 -O quota,project") && run.stdout.contains("prjquota") && run.stdout.contains("pquota"), "\(run)")
    }

    @Test func aLimitNothingEnforcesFails() async throws {
        let directory = try OfflineCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let policies = directory + "/policies"
        try FileManager.default.copyItem(atPath: Binaries.repositoryRoot.appendingPathComponent("Policies").path, toPath: policies)
        let small = policies + "/small.toml"
        try (try String(contentsOfFile: small, encoding: .utf8))
            .replacingOccurrences(of: "# workspace_size = \"2GiB\"", with: "workspace_size = \"2GiB\"")
            .write(toFile: small, atomically: true, encoding: .utf8)
        let file = try configure(directory, policies: policies)
        let run = try await Binaries.sandcastle(["doctor", "--config", file, "--socket", directory + "/none.sock"])
        #expect(run.status == 8)
        let line = try #require(Self.line(run.stdout), "\(run)")
        #expect(line.hasPrefix("FAIL") && line.contains("small asks for workspace limits"), "\(run)")

        // quota = "project" on a root without project quotas: the daemon would refuse to start.
        let project = try configure(directory, policies: Binaries.repositoryRoot.appendingPathComponent("Policies").path, quota: "project")
        let refused = try await Binaries.sandcastle(["doctor", "--config", project, "--socket", directory + "/none.sock"])
        let refusedLine = try #require(Self.line(refused.stdout), "\(refused)")
        #expect(refusedLine.hasPrefix("FAIL") && refusedLine.contains("refuses to start"), "\(refused)")
    }
}
