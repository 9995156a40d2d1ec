import Foundation
import SandcastleConfig
import Testing

@testable import SandcastleDaemon
import SandcastleTestSupport
import SessionStore

/// The files in `systemd/`, installed by `scripts/install` into a scratch root and checked there
/// with `systemd-analyze` offline (no systemd runs here): `verify` must find nothing to say, and
/// `security --offline=yes` gives the exposure score.
@Suite("The systemd units and scripts/install", .serialized)
struct SystemdUnitTests {
    static let repository = DaemonProcessTests.Daemon.repositoryRoot

    /// Runs `arguments` (the first a path or a name on PATH) with `environment` added to the test's own.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess.Result {
        try ChildProcess.runBlocking(
            arguments[0], Array(arguments.dropFirst()),
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, timeout: .seconds(300))
    }

    /// `scripts/install` into a fresh DESTDIR, with the test build's sandcastled, plus what
    /// `verify` resolves outside the unit: /bin/kill (ExecReload=), the standard targets and a
    /// stand-in docker.service.
    static func installedRoot(hostMounts: Bool) throws -> (root: String, log: String) {
        let root = "/tmp/sc-install-\(UUID().uuidString.prefix(6).lowercased())"
        let binaries = try DaemonProcessTests.Daemon.executable().deletingLastPathComponent().path
        let install = try run(
            [Self.repository.appendingPathComponent("scripts/install").path] + (hostMounts ? ["--host-mounts"] : []),
            environment: ["DESTDIR": root, "SANDCASTLE_INSTALL_BIN_DIR": binaries])
        #expect(install.status == 0, "\(install.output)")
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try fm.copyItem(atPath: "/bin/kill", toPath: root + "/bin/kill")
        let units = root + "/usr/lib/systemd/system"
        try fm.createDirectory(atPath: units, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: "/lib/systemd/system") where name.hasSuffix(".target") {
            try? fm.copyItem(atPath: "/lib/systemd/system/" + name, toPath: units + "/" + name)
        }
        try "[Unit]\nDescription=stand-in for the engine\n[Service]\nExecStart=/bin/kill -0 1\n"
            .write(toFile: units + "/docker.service", atomically: true, encoding: .utf8)
        return (root, install.output)
    }

    static func exposure(root: String) throws -> (score: Double, report: String) {
        let security = try run(["systemd-analyze", "security", "--offline=yes", "--root=\(root)", "sandcastled.service"])
        let line = security.output.split(separator: "\n").first { $0.contains("Overall exposure level") } ?? ""
        let score = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        return (try #require(score, "no score in: \(security.output)"), security.output)
    }

    @Test func theInstalledUnitVerifiesCleanlyAndScoresAtMostFour() throws {
        let (root, log) = try Self.installedRoot(hostMounts: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for file in [
            "/usr/local/bin/sandcastled", "/usr/local/lib/systemd/system/sandcastled.service",
            "/usr/local/lib/sysusers.d/sandcastle.conf", "/usr/local/lib/tmpfiles.d/sandcastle.conf",
            "/etc/sandcastle/sandcastled.toml", "/etc/sandcastle/sandcastled.toml.example",
            "/etc/sandcastle/policies/default.toml", "/usr/local/share/sandcastle/systemd/host-mounts.conf",
        ] {
            #expect(FileManager.default.fileExists(atPath: root + file), "\(file) not installed")
            #expect(log.contains(root + file), "the install log names \(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/usr/local/lib/systemd/system/sandcastled.service.d"))
        let verify = try Self.run(["systemd-analyze", "verify", "--root=\(root)", "--man=no", "--generators=no", "sandcastled.service"])
        #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
        let (score, report) = try Self.exposure(root: root)
        print("systemd-analyze security --offline=yes: sandcastled.service exposure \(score)")
        #expect(score <= 4.0, "\(report)")
        // Project quotas need CAP_SYS_ADMIN (quotactl) and quotactl_fd, and nothing else more: the
        // mount calls stay filtered, and this costs 0.2 (2.1 without it).
        #expect(score <= 2.3, "\(report)")
        let unit = try String(contentsOfFile: root + "/usr/local/lib/systemd/system/sandcastled.service", encoding: .utf8)
        #expect(unit.contains("\nCapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_SYS_ADMIN\n"))
        #expect(unit.contains("\nSystemCallFilter=@chown capset quotactl_fd\n"))
        #expect(report.contains("SystemCallFilter=~@mount") && !report.contains("✗ SystemCallFilter=~@mount"), "\(report)")
        // The installed configuration is the example, and it loads.
        let configuration = try DaemonConfiguration.load(file: root + "/etc/sandcastle/sandcastled.toml")
        #expect(configuration.workspaceImageDirectory == nil, "no mounts under the namespaced unit")
        #expect(configuration.socketGroup == "sandcastle")
    }

    @Test func theHostMountsDropInVerifiesAndNeedsItsMounts() throws {
        let (root, _) = try Self.installedRoot(hostMounts: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dropIn = root + "/usr/local/lib/systemd/system/sandcastled.service.d/host-mounts.conf"
        #expect(FileManager.default.fileExists(atPath: dropIn))
        let verify = try Self.run(["systemd-analyze", "verify", "--root=\(root)", "--man=no", "--generators=no", "sandcastled.service"])
        #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
        let (score, report) = try Self.exposure(root: root)
        print("systemd-analyze security --offline=yes: sandcastled.service + host-mounts.conf exposure \(score)")
        // The price of the host's mount namespace: no ProtectSystem=, PrivateTmp=, ... (see the drop-in).
        #expect(score <= 4.5, "\(report)")
        #expect(report.contains("CapabilityBoundingSet=~CAP_SYS_ADMIN"))
        let configuration = try DaemonConfiguration.load(file: root + "/etc/sandcastle/sandcastled.toml")
        #expect(configuration.workspaceImageDirectory == "/var/lib/sandcastle/workspace-images")
        #expect(Daemon.hardeningNeeds(for: configuration).mounts)
    }

    /// Every key the configuration parser reads is documented in the example.
    @Test func theExampleDocumentsEveryKey() throws {
        let source = try String(
            contentsOf: Self.repository.appendingPathComponent("Sources/SandcastleConfig/DaemonConfiguration.swift"), encoding: .utf8)
        let example = try String(contentsOf: Self.repository.appendingPathComponent("systemd/sandcastled.toml.example"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"(?:\.(?:string|strings|integer|number|table|tables)\(|positive(?:Number)?\(\w+, |\(")"([a-z_]+)""#)
        let keys = Set(pattern.matches(in: source, range: NSRange(source.startIndex..., in: source)).compactMap {
            Range($0.range(at: 1), in: source).map { String(source[$0]) }
        })
        #expect(keys.count > 25, "\(keys.sorted())")
        for key in keys.sorted() {
            let documented = example.split(separator: "\n").contains { line in
                let text = line.trimmingCharacters(in: .whitespaces)
                return text.hasPrefix("\(key) =") || text.hasPrefix("# \(key) =") || text == "[\(key)]" || text == "# [[auth.\(key)]]"
            }
            #expect(documented, "\(key) is not in systemd/sandcastled.toml.example")
        }
        _ = try DaemonConfiguration.parse(example, file: "sandcastled.toml.example", defaults: .defaults())
    }

    @Test func aMountInASlaveNamespaceIsRecognised() {
        let host = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            30 22 0:25 / /var/lib/docker rw shared:9 - ext4 /dev/sdb rw
            """
        #expect(MountInfo.covering("/var/lib/sandcastle/workspaces", in: host) == MountInfo(mountPoint: "/", tags: ["shared:1"]))
        #expect(MountInfo.covering("/var/lib/sandcastle/workspaces", in: host)?.isSlave == false)
        let unit = """
            400 380 8:1 / / ro,relatime shared:210 master:1 - ext4 /dev/sda1 rw
            401 400 8:1 /var/lib/sandcastle /var/lib/sandcastle rw,relatime shared:211 master:1 - ext4 /dev/sda1 rw
            402 400 0:60 / /var/lib/sandcastle\\040x rw master:7 - tmpfs tmpfs rw
            """
        #expect(MountInfo.covering("/var/lib/sandcastle/workspaces", in: unit)?.mountPoint == "/var/lib/sandcastle")
        #expect(MountInfo.covering("/var/lib/sandcastle/workspaces", in: unit)?.isSlave == true)
        #expect(MountInfo.covering("/var/lib/sandcastle x/w", in: unit)?.mountPoint == "/var/lib/sandcastle x")

        // The daemon's start-up check: only a configuration that mounts, in a slave namespace.
        var mounting = DaemonConfiguration.defaults(isRoot: true)
        mounting.workspaceRoot = "/var/lib/sandcastle/workspaces"
        mounting.workspaceImageDirectory = "/var/lib/sandcastle/workspace-images"
        mounting.workspaceQuota = .image
        let problem = Daemon.mountPropagationProblem(mounting, mountinfo: unit)
        #expect(problem?.contains("host-mounts.conf") == true, "\(String(describing: problem))")
        #expect(Daemon.mountPropagationProblem(mounting, mountinfo: host) == nil)
        var plain = mounting
        plain.workspaceImageDirectory = nil
        #expect(Daemon.mountPropagationProblem(plain, mountinfo: unit) == nil)
        // A warm pool mounts under its root, which is checked the same way.
        var pooled = plain
        pooled.pool.targets = [PoolSettings.Target(profile: "default", image: "sandcastle/testbox:latest", size: 0, refillPerMinute: 120)]
        let poolProblem = Daemon.mountPropagationProblem(pooled, mountinfo: unit)
        #expect(poolProblem?.contains("warm pool") == true, "\(String(describing: poolProblem))")
        #expect(Daemon.mountPropagationProblem(pooled, mountinfo: host) == nil)
    }
}
