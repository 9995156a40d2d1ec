import Foundation
import Glibc
import SandcastleClient
import SandcastleTestSupport
import Testing

@testable import Workspaces

/// From the host: runs `ProjectQuotaDaemonInsideTests` inside Docker-in-Docker (`scripts/dind`),
/// where mounting a file-system image touches nothing on the host, and expects both to pass there.
@Suite("project quotas with the daemon, run in Docker-in-Docker", .enabled(if: InDinD.canLaunch))
struct ProjectQuotaDaemonInDinDTests {
    @Test func passInsideDockerInDocker() async throws {
        // The ids and flags on XFS always; the quotas on each file system this kernel can enforce.
        let count = 1 + (KernelQuotas.ext4 ? 1 : 0) + (KernelQuotas.xfs ? 1 : 0)
        try await InDinD.expectPasses(filter: "ProjectQuotaDaemonInsideTests", count: count)
    }
}

/// What this kernel can enforce, from /proc/config.gz (unreadable: assume it can, and let the
/// tests find out). ext4's quota feature needs the v2 quota format (`CONFIG_QFMT_V2`); XFS needs
/// `CONFIG_XFS_QUOTA`.
enum KernelQuotas {
    static let config: String? = {
        guard FileManager.default.fileExists(atPath: "/proc/config.gz"),
            let run = try? ChildProcess.runBlocking("/bin/zcat", ["/proc/config.gz"], timeout: .seconds(30)), run.status == 0
        else { return nil }
        return run.output
    }()

    static func has(_ option: String) -> Bool {
        guard let config else { return true }
        return config.contains("\n\(option)=y") || config.contains("\n\(option)=m")
    }

    static var ext4: Bool { has("CONFIG_QUOTA") && has("CONFIG_QFMT_V2") }
    static var xfs: Bool { has("CONFIG_XFS_QUOTA") }
}

/// The real `sandcastled` on a workspace root with project quotas: an ext4 image made with
/// `-O quota,project` and mounted `prjquota`, and an XFS image mounted `pquota`. The daemon's state
/// directory lies on the same file system, so a full workspace would take the store down with it
/// if the limits did not hold.
@Suite(
    "project quotas with the daemon, inside Docker-in-Docker", .serialized,
    .enabled(if: InDinD.isInside, "runs only inside the container scripts/dind starts"))
struct ProjectQuotaDaemonInsideTests {
    static let mebibyte: Int64 = 1 << 20

    @Test(
        "ext4 with prjquota: EDQUOT at the limit, the rest keeps writing, a raised limit applies live, inodes hold",
        .enabled(if: KernelQuotas.ext4, "this kernel cannot enforce ext4 quotas (CONFIG_QFMT_V2 is not set)"))
    func ext4() async throws {
        try await exercise(fileSystem: "ext4")
    }

    @Test("XFS with pquota: the same", .enabled(if: KernelQuotas.xfs, "this kernel cannot enforce XFS quotas (CONFIG_XFS_QUOTA is not set)"))
    func xfs() async throws {
        try await exercise(fileSystem: "xfs")
    }

    @Test("without quotas on: ids and the inherit flag still work, the limiter refuses, and auto picks none")
    func withoutQuotas() async throws {
        let scratch = try QuotaVolume(fileSystem: "xfs", quotas: false)
        defer { scratch.tearDown() }
        #expect(ProjectQuota.support(at: scratch.mountPoint) == .off(fileSystem: "xfs"))
        #expect(WorkspaceQuotaBackend.resolve(setting: "auto", workspaceRoot: scratch.mountPoint, imageDirectory: nil) == .none)
        // FS_IOC_FSSETXATTR with the inherit flag: what is made beneath takes the id.
        try FileManager.default.createDirectory(atPath: scratch.mountPoint + "/w/old", withIntermediateDirectories: true)
        let fd = open(scratch.mountPoint + "/w", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(ProjectQuota.setProject(fd, 123_456, inherit: true) == 0)
        #expect(ProjectQuota.project(of: fd)?.id == 123_456 && ProjectQuota.project(of: fd)?.inherits == true)
        try FileManager.default.createDirectory(atPath: scratch.mountPoint + "/w/new", withIntermediateDirectories: true)
        #expect(scratch.projectID("w/new") == 123_456)
        #expect(scratch.projectID("w/old") == nil, "made before the id: keeps its own until the limiter tags it")
        // The limiter needs quotas on, and says how to get them.
        let resolver = try WorkspaceResolver(root: scratch.mountPoint)
        #expect(throws: WorkspaceError.self) {
            try ProjectQuotaWorkspaceLimiter(resolver: resolver, ids: NoIDs(), logger: .init(label: "t"))
        }
    }

    struct NoIDs: WorkspaceProjectIDs {
        func projectID(forWorkspace name: String) async throws -> UInt32 { 1 }
        func existingProjectID(forWorkspace name: String) async throws -> UInt32? { nil }
        func existingProjectIDs() async throws -> [String: UInt32] { [:] }
    }

    func exercise(fileSystem: String) async throws {
        let scratch = try QuotaVolume(fileSystem: fileSystem)
        defer { scratch.tearDown() }
        #expect(ProjectQuota.support(at: scratch.mountPoint).isEnforced, "\(ProjectQuota.support(at: scratch.mountPoint))")
        try scratch.writePolicies(defaultSize: "32MiB")
        try scratch.writeConfiguration()
        let daemon = try SandcastledProcess(configuredIn: scratch.base)
        do {
            try await daemon.waitUntilListening(timeout: .seconds(60))
            // The daemon hardened itself and kept what project quotas need, nothing more.
            #expect(daemon.logText.contains("project quotas: true"), "\(daemon.logText)")

            // A fills its workspace; B, on the same file system, writes 40 MiB meanwhile.
            _ = try await create(daemon, id: "fill-a", workspace: "full", profile: "default", script: """
                dd if=/dev/zero of=/workspace/big bs=1M count=100; echo "first dd exit $?"
                while [ ! -e /workspace/go ]; do sleep 0.2; done
                dd if=/dev/zero of=/workspace/more bs=1M count=16; echo "second dd exit $?"; sleep 3600
                """)
            _ = try await create(daemon, id: "other-b", workspace: "other", profile: "large", script: """
                i=0; while [ $i -lt 40 ]; do dd if=/dev/zero of=/workspace/f$i bs=1M count=1 2>/dev/null || echo "B FAILED $i"; i=$((i+1)); done
                echo "B wrote 40"; sleep 3600
                """)
            let first = try await waitForLog(daemon, "fill-a", "first dd exit")
            #expect(first.contains("Disk quota exceeded") || first.contains("No space left on device"), "\(first)")
            #expect(!first.contains("first dd exit 0"), "\(first)")
            let other = try await waitForLog(daemon, "other-b", "B wrote 40")
            #expect(!other.contains("B FAILED"), "\(other)")

            // What the API reports, the event, and a store that still takes writes.
            let full = try await workspace(daemon, "full")
            #expect(full.backend == "project")
            let usage = try #require(full.usage)
            #expect(usage.bytes.limit == 32 * Self.mebibyte && usage.full, "\(usage)")
            #expect(usage.bytes.used > 30 * Self.mebibyte && usage.bytes.used <= 32 * Self.mebibyte, "\(usage)")
            #expect(try await workspace(daemon, "other").usage?.bytes.used ?? 0 >= 40 * Self.mebibyte)
            try await eventually("a workspace.full event", timeout: .seconds(30)) {
                let events = try await daemon.curl(["-H", "Last-Event-ID: 0", "http://x/v1/events"], seconds: 2)
                return events.contains("workspace.full") && events.contains(#""workspace":"full""#)
            }
            let ready = try await daemon.curl(["-w", " %{http_code}", "http://x/readyz"])
            #expect(ready.hasSuffix(" 200") && ready.contains(#""store":"ok""#), "\(ready)")
            let session = try await daemon.curl(["http://x/v1/sessions/fill-a"])
            #expect(session.contains(#""workspaceUsage""#) && session.contains(#""full":true"#), "\(session)")

            // Raising the limit (policies reloaded with SIGHUP) applies to the running session.
            try scratch.writePolicies(defaultSize: "96MiB")
            kill(daemon.process.processIdentifier, SIGHUP)
            try await eventually("the raised limit in force", timeout: .seconds(30)) {
                (try? await workspace(daemon, "full"))?.usage?.bytes.limit == 96 * Self.mebibyte
            }
            #expect(FileManager.default.createFile(atPath: scratch.mountPoint + "/workspaces/full/go", contents: nil))
            let second = try await waitForLog(daemon, "fill-a", "second dd exit")
            #expect(second.contains("second dd exit 0"), "\(second)")

            // The inode limit holds against a loop of touch.
            _ = try await create(daemon, id: "touch-c", workspace: "files", profile: "small", script: """
                i=0; while touch /workspace/t$i 2>/dev/null; do i=$((i+1)); done; echo "touched $i"; sleep 3600
                """)
            let touched = try await waitForLog(daemon, "touch-c", "touched ")
            let count = touched.split(separator: "\n").first { $0.hasPrefix("touched ") }.flatMap { Int($0.dropFirst(8)) }
            #expect(count.map { (90...99).contains($0) } == true, "\(touched)")
            #expect(try await workspace(daemon, "files").usage?.inodes.used == 100)

            // Deleting a workspace frees its project id; the next workspace takes it.
            let freed = try #require(scratch.projectID("workspaces/full"))
            _ = try await daemon.curl(["-X", "DELETE", "http://x/v1/sessions/fill-a?workspace=delete"])
            let gone = try await daemon.curl(["-w", " %{http_code}", "http://x/v1/workspaces/full"])
            #expect(gone.hasSuffix(" 404"), "\(gone)")
            _ = try await create(daemon, id: "reuse-d", workspace: "reuse", profile: "large", script: "sleep 3600")
            #expect(scratch.projectID("workspaces/reuse") == freed)
            let listed = try await daemon.curl(["http://x/v1/workspaces"])
            #expect(listed.contains(#""backend":"project""#) && !listed.contains(#""name":"full""#), "\(listed)")

            for id in ["other-b", "touch-c", "reuse-d"] {
                _ = try await daemon.curl(["-X", "DELETE", "http://x/v1/sessions/\(id)"])
            }
            _ = await daemon.stop(SIGTERM)
        } catch {
            _ = await daemon.stop(SIGKILL)
            Issue.record("daemon log: \(daemon.logText)")
            throw error
        }
    }

    // MARK: - Helpers

    func workspace(_ daemon: SandcastledProcess, _ name: String) async throws -> Workspace {
        let text = try await daemon.curl(["http://x/v1/workspaces/\(name)"])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Workspace.self, from: Data(text.utf8))
        } catch {
            throw FixtureError(description: "GET /v1/workspaces/\(name): \(text)")
        }
    }

    func create(_ daemon: SandcastledProcess, id: String, workspace: String, profile: String, script: String) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: [
            "id": id, "image": ManagerFixture.image, "profile": profile, "workspace": workspace, "command": ["sh", "-c", script],
        ])
        let created = try await daemon.curl([
            "-H", "Content-Type: application/json", "-d", String(decoding: body, as: UTF8.self), "http://x/v1/sessions",
        ])
        guard created.contains(#""state":"running""#) else { throw FixtureError(description: "creating \(id): \(created)") }
        return created
    }

    func waitForLog(_ daemon: SandcastledProcess, _ id: String, _ text: String) async throws -> String {
        var logs = ""
        try await eventually("\(id) to print \(text)", timeout: .seconds(60)) {
            logs = try await daemon.curl(["http://x/v1/sessions/\(id)/logs"])
            return logs.contains(text)
        }
        return logs
    }
}

/// A file-system image with project quotas, loop-mounted under a scratch directory, with the
/// daemon's configuration and policies beside it.
struct QuotaVolume {
    let base: String
    let fileSystem: String
    var mountPoint: String { base + "/volume" }

    init(fileSystem: String, quotas: Bool = true) throws {
        self.fileSystem = fileSystem
        base = "/tmp/sc-quota-\(fileSystem)-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        chmod(base, 0o711)
        Self.makeLoopNodes()
        let image = base + "/volume.img"
        try run("/usr/bin/truncate", ["-s", "512M", image])
        if fileSystem == "ext4" {
            try run("/usr/sbin/mkfs.ext4", ["-q", "-F", "-O", "quota,project", "-I", "256", image])
            try run("/usr/bin/mount", ["-o", "loop,prjquota", image, mountPoint])
        } else {
            try run("/usr/sbin/mkfs.xfs", ["-q", "-f", image])
            try run("/usr/bin/mount", ["-o", quotas ? "loop,pquota" : "loop", image, mountPoint])
        }
        chmod(mountPoint, 0o711)
    }

    func tearDown() {
        _ = try? run("/usr/bin/umount", ["-l", mountPoint])
        try? FileManager.default.removeItem(atPath: base)
    }

    /// The container's /dev has no loop devices; they are host-global, so make nodes for the first 64
    /// (`makedev(major, minor)` is `major << 8 | minor` for numbers this small).
    static func makeLoopNodes() {
        if access("/dev/loop-control", F_OK) != 0 { _ = mknod("/dev/loop-control", S_IFCHR | 0o660, dev_t(10 << 8 | 237)) }
        for index in 0..<64 where access("/dev/loop\(index)", F_OK) != 0 {
            _ = mknod("/dev/loop\(index)", S_IFBLK | 0o660, dev_t(7 << 8 | index))
        }
    }

    /// The shipped profiles, with workspace limits: `default` limits bytes, `small` bytes and 100
    /// inodes, `large` nothing (its workspaces are only accounted).
    func writePolicies(defaultSize: String) throws {
        let directory = base + "/policies"
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.copyItem(atPath: ManagerFixture.policiesDirectory, toPath: directory)
        }
        for (name, limits) in [
            ("default", "workspace_size = \"\(defaultSize)\""), ("small", "workspace_size = \"32MiB\"\nworkspace_inodes = 100"),
            ("large", ""),
        ] {
            let original = try String(contentsOfFile: ManagerFixture.policiesDirectory + "/\(name).toml", encoding: .utf8)
            let text = original.replacingOccurrences(
                of: #"(?m)^# workspace_size = .*$"#, with: limits, options: .regularExpression)
            try text.write(toFile: directory + "/\(name).toml", atomically: true, encoding: .utf8)
        }
    }

    func writeConfiguration() throws {
        try """
            [api]
            socket = "\(base)/api.sock"
            [paths]
            state_directory = "\(mountPoint)/state"
            workspace_root = "\(mountPoint)/workspaces"
            policies = "\(base)/policies"
            workspace_images = ""
            [engine]
            stop_grace_seconds = 1
            [workspaces]
            quota = "project"
            """.write(toFile: base + "/sandcastled.toml", atomically: true, encoding: .utf8)
    }

    /// The project id of a directory on the volume (FS_IOC_FSGETXATTR), when it inherits it.
    func projectID(_ path: String) -> UInt32? {
        let fd = open(mountPoint + "/" + path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return ProjectQuota.project(of: fd).flatMap { $0.inherits ? $0.id : nil }
    }

    @discardableResult
    func run(_ program: String, _ arguments: [String]) throws -> String {
        let result = try ChildProcess.runBlocking(program, arguments, timeout: .seconds(120))
        guard result.status == 0 else {
            throw FixtureError(description: "\(program) \(arguments.joined(separator: " ")): exit \(result.status): \(result.output)")
        }
        return result.output
    }
}
