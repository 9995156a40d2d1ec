import ArgumentParser
import Dispatch
import DockerEngine
import Foundation
import SandboxPolicy
import SandcastleClient
import SandcastleConfig

#if canImport(Glibc)
import Glibc
#endif

/// One finding of `sandcastle doctor`.
struct DoctorCheck: Sendable {
    enum Status: String, Sendable {
        case ok = "ok"
        case warn = "WARN"
        case fail = "FAIL"
    }

    var name: String
    var status: Status
    var detail: String
    /// What to do about it; set for WARN and FAIL.
    var fix: String?

    static func ok(_ name: String, _ detail: String) -> DoctorCheck { DoctorCheck(name: name, status: .ok, detail: detail) }
    static func fail(_ name: String, _ detail: String, fix: String) -> DoctorCheck {
        DoctorCheck(name: name, status: .fail, detail: detail, fix: fix)
    }
    static func warn(_ name: String, _ detail: String, fix: String) -> DoctorCheck {
        DoctorCheck(name: name, status: .warn, detail: detail, fix: fix)
    }

    var rendered: String {
        let head = "\(status.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(detail)"
        return fix.map { head + "\n" + String(repeating: " ", count: 23) + "fix: \($0)" } ?? head
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this host: config, engine, cgroup limits, seccomp, policies, directories, daemon.",
        discussion: """
            Each check prints ok, WARN or FAIL, and a fix for the last two. Works while the daemon is down: \
            it reads the daemon's configuration and asks the engine directly. Exits 8 when a check fails.
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let checks = await Self.diagnose(connection: connection)
        for check in checks { await Output.line(check.rendered) }
        let failed = checks.filter { $0.status == .fail }
        if !failed.isEmpty {
            await Output.line("\(failed.count) check(s) failed: \(failed.map(\.name).joined(separator: ", "))")
            throw ExitCode(ExitStatus.checksFailed.rawValue)
        }
    }

    static func diagnose(connection: ConnectionOptions) async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let environment = ProcessInfo.processInfo.environment
        let file = ConnectionOptions.configFile(connection.config, environment: environment)
        var configuration = DaemonConfiguration.defaults()
        if let file {
            do {
                configuration = try DaemonConfiguration.load(file: file)
                checks.append(.ok("config", file))
            } catch {
                checks.append(
                    .fail(
                        "config", "\(file) is invalid: " + error.problems.joined(separator: "; "),
                        fix: "correct the lines named above (the daemon refuses to start on this file); the checks below use the embedded defaults"))
            }
        } else {
            checks.append(.ok("config", "no file: the embedded defaults (state \(configuration.stateDirectory))"))
        }
        checks += await engineChecks(configuration)
        let policies = configuration.policiesDirectory
        checks.append(await onThread { policyCheck(policies) })
        let state = configuration.stateDirectory
        let workspaces = configuration.workspaceRoot
        checks += await onThread {
            [directoryCheck("state directory", state, privateToOwner: true), directoryCheck("workspace root", workspaces, privateToOwner: false)]
        }
        let profiles = ((try? PolicySet.load(directory: policies))?.profiles.values).map(Array.init) ?? []
        let quota = configuration
        checks.append(await onThread { workspaceLimitsCheck(quota, profiles: profiles) })
        let settings = configuration
        checks += await onThread { egressChecks(settings) }
        checks.append(await daemonCheck(connection: connection, configuration: configuration))
        return checks
    }

    // MARK: Engine, cgroups, seccomp

    static func engineChecks(_ configuration: DaemonConfiguration) async -> [DoctorCheck] {
        let endpoint = configuration.engineEndpoint
        let client: DockerClient
        do {
            client = try await DockerClient.connect(.init(endpoint: endpoint, requestTimeout: .seconds(10), connectTimeout: .seconds(3)))
        } catch {
            let reason = (error as? DockerError).map { $0.detail } ?? "\(error)"
            return [
                .fail(
                    "engine", "cannot reach the Docker engine at \(endpoint): \(reason)",
                    fix: "start Docker (systemctl start docker), or set [engine] endpoint in the daemon's configuration to where it listens"),
            ] + (await onThread { [hostCgroupCheck(), hostSeccompCheck(engineSays: nil)] })
        }
        var checks: [DoctorCheck] = [
            .ok("engine", "Docker \(client.engineVersion.version) at \(endpoint), API \(client.engineVersion.apiVersion) (using \(client.apiVersion))")
        ]
        let info: EngineInfo
        do {
            info = try await client.info()
        } catch {
            checks.append(.fail("engine info", "GET /info failed: \(error)", fix: "check the engine's log (journalctl -u docker)"))
            return checks
        }
        var missing: [String] = []
        if info.memoryLimit != true { missing.append("memory") }
        if info.swapLimit != true { missing.append("swap") }
        if info.pidsLimit != true { missing.append("pids") }
        if info.cpuCfsQuota != true { missing.append("cpu quota") }
        if missing.isEmpty {
            checks.append(.ok("cgroup limits", "memory, swap, pids and cpu quota enforced (cgroup v\(info.cgroupVersion ?? "?"), \(info.cgroupDriver ?? "?") driver)"))
        } else {
            checks.append(
                .fail(
                    "cgroup limits", "the engine cannot enforce: \(missing.joined(separator: ", "))",
                    fix: "enable the cgroup controllers (cgroup v2: boot with systemd.unified_cgroup_hierarchy=1; v1: cgroup_enable=memory swapaccount=1) and restart Docker"))
        }
        let seccomp = info.seccompSupported
        checks.append(await onThread { hostSeccompCheck(engineSays: seccomp) })
        if info.liveRestoreEnabled != true {
            checks.append(
                .warn(
                    "live-restore", "off: restarting Docker kills every session",
                    fix: #"set "live-restore": true in /etc/docker/daemon.json, then systemctl reload docker"#))
        } else {
            checks.append(.ok("live-restore", "on: sessions survive an engine restart"))
        }
        return checks
    }

    /// Without the engine: whether this kernel's cgroups offer the controllers limits need.
    static func hostCgroupCheck() -> DoctorCheck {
        if let controllers = try? String(contentsOfFile: "/sys/fs/cgroup/cgroup.controllers", encoding: .utf8) {
            let present = Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init))
            let missing = ["memory", "pids", "cpu"].filter { !present.contains($0) }
            return missing.isEmpty
                ? .ok("cgroup limits", "cgroup v2 with memory, pids and cpu (the engine could not be asked)")
                : .fail("cgroup limits", "cgroup v2 lacks \(missing.joined(separator: ", "))", fix: "enable those controllers for the Docker service's cgroup")
        }
        let v1 = ["memory", "pids", "cpu"].filter { !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\($0)") }
        return v1.isEmpty
            ? .ok("cgroup limits", "cgroup v1 memory, pids and cpu hierarchies (the engine could not be asked)")
            : .fail("cgroup limits", "no cgroup hierarchy for \(v1.joined(separator: ", "))", fix: "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)")
    }

    static func hostSeccompCheck(engineSays: Bool?) -> DoctorCheck {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let kernel = status.contains("Seccomp:")
        switch (kernel, engineSays) {
        case (false, _):
            return .fail("seccomp", "this kernel has no seccomp filter support", fix: "use a kernel built with CONFIG_SECCOMP_FILTER=y")
        case (true, false?):
            return .fail("seccomp", "the engine does not list seccomp in its security options", fix: "install a Docker built with seccomp (Debian's docker.io is)")
        case (true, true?):
            return .ok("seccomp", "supported by the kernel and the engine")
        case (true, nil):
            return .ok("seccomp", "supported by the kernel (the engine could not be asked)")
        }
    }

    // MARK: Policies and directories

    static func policyCheck(_ directory: String) -> DoctorCheck {
        do {
            let set = try PolicySet.load(directory: directory)
            return .ok("policies", "\(directory): \(set.profiles.keys.sorted().joined(separator: ", "))")
        } catch {
            return .fail(
                "policies", "\(directory): \(error.problems.count) problem(s), first: \(error.problems.first.map(\.description) ?? "?")",
                fix: "sandcastle policy check \(directory) lists every problem; the daemon refuses to start until they are fixed")
        }
    }

    /// Exists (or can be made), is a directory, belongs to this user, is not open to others, and
    /// takes a new file.
    static func directoryCheck(_ name: String, _ path: String, privateToOwner: Bool) -> DoctorCheck {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let parent = (path as NSString).deletingLastPathComponent
            if errno == ENOENT, access(parent, W_OK) == 0 || FileManager.default.fileExists(atPath: parent) == false {
                return .ok(name, "\(path) does not exist yet; the daemon creates it")
            }
            return .fail(name, "\(path): \(String(cString: strerror(errno)))", fix: "mkdir -p \(path) && chmod 700 \(path)")
        }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            return .fail(name, "\(path) is a symbolic link", fix: "point the configuration at the real directory")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            return .fail(name, "\(path) is not a directory", fix: "move it away and let the daemon create the directory, or configure another path")
        }
        let mode = info.st_mode & 0o7777
        if info.st_uid != geteuid() {
            return .fail(
                name, "\(path) belongs to uid \(info.st_uid), not to this user (uid \(geteuid()))",
                fix: "chown \(geteuid()) \(path) (the daemon's user must own it)")
        }
        if mode & 0o002 != 0 {
            return .fail(name, "\(path) is writable by everyone (mode \(String(mode, radix: 8)))", fix: "chmod \(privateToOwner ? "700" : "755") \(path)")
        }
        if privateToOwner, mode & 0o077 != 0 {
            return .fail(
                name, "\(path) is open to other users (mode \(String(mode, radix: 8))): it holds the admin key and signing key",
                fix: "chmod 700 \(path)")
        }
        let probe = path + "/.sandcastle-doctor-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            return .fail(name, "cannot create a file in \(path): \(reason)", fix: "make \(path) writable by the daemon's user (a read-only mount? a full disk?)")
        }
        close(fd)
        unlink(probe)
        return .ok(name, "\(path) (mode \(String(mode, radix: 8)), writable)")
    }

    // MARK: The daemon

    static func daemonCheck(connection: ConnectionOptions, configuration: DaemonConfiguration) async -> DoctorCheck {
        let address: DaemonAddress
        do {
            address = try connection.address()
        } catch {
            address = .unixSocket(path: configuration.socketPath)
        }
        do {
            _ = try await SandcastleClient(address: address, apiKey: nil).health()
            return .ok("daemon", "answering at \(address)")
        } catch {
            return .fail("daemon", "not answering at \(address): \(error)", fix: "systemctl start sandcastled (or scripts/daemon in a checkout); its log says why it stopped (journalctl -u sandcastled)")
        }
    }
}

/// Runs blocking work (file system calls) on a dispatch thread instead of the cooperative pool.
func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
