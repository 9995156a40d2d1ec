import DockerEngine
import EgressProxy
import Foundation
import Logging
import NIOCore
import SandboxPolicy
import Workspaces
import Sessions
import SandcastleTestSupport
import Testing

/// The escape battery: our probe program, run inside a sandbox launched the way the daemon launches
/// one (profile -> create body -> create -> read back -> start) through the real engine.
///
/// Under `default` every probe must be blocked, also with egress on (the profile with an allow list:
/// the forwarder in front, the daemon's proxy socket bound in); under `debug` only ptrace may get
/// through.
@Suite("Escape battery against the real engine", .serialized, .requiresEngine)
struct EscapeBatteryTests {
    struct ProbeLine: Equatable {
        var name: String
        var verdict: String
        var detail: String
    }

    struct Run {
        var lines: [ProbeLine]
        var output: String
        var state: ContainerState
        var workspace: ResolvedWorkspace
        var resolver: WorkspaceResolver

        func verdict(_ name: String) -> String? { lines.first { $0.name == name }?.verdict }

        /// Deletes the workspace with the resolver (which never follows the link the sandbox
        /// planted), then the empty root.
        func cleanUp() {
            _ = try? resolver.delete(workspace.name)
            rmdir(resolver.root)
        }
        var escaped: [ProbeLine] { lines.filter { $0.verdict == "ESCAPED" } }
    }

    static let probeFlag = "--i-understand-this-probes-the-sandbox"

    /// Probes every run must report; a probe that silently did not run fails the battery.
    static let requiredProbes = [
        "userns", "mountns", "netns", "clone-newuser", "clone3-ns", "setns", "mount", "remount-root", "chroot",
        "pivot_root", "ptrace", "keyctl", "bpf", "perf_event_open", "io_uring", "userfaultfd", "raw-socket",
        "packet-socket", "vsock-socket", "alg-socket", "mknod", "write-root", "sysrq", "kmsg", "settime", "reboot",
        "init-module", "kexec", "swapon", "setuid0", "network", "docker-socket", "suid", "open_by_handle_at",
        "caps", "no-new-privs", "seccomp", "fork-bomb", "tmpfs-fill", "symlink-plant",
    ]

    /// Launches the probe under `profileName` with `arguments` and collects its output. With
    /// `egress`, the profile gets that allow list and the session egress as the daemon gives it:
    /// a real proxy socket in a directory bound read-only, the forwarder as the entrypoint.
    static func run(profileName: String, arguments: [String], egress: [String] = []) async throws -> Run {
        let policies = try PolicySet.load(directory: try policiesDirectory(profileName, egress: egress))
        let profile = try #require(policies.profile(named: profileName))
        let root = try TestEngine.temporaryDirectory("battery")
        let resolver = try WorkspaceResolver(root: root)
        let workspaceName = "battery-\(profileName)"
        let uid = profile.uids.preferredUID(forWorkspace: workspaceName)
        let user = WorkspaceUser(uid: uid)
        let workspace = try await resolver.resolve(workspaceName, creatingFor: user)
        let sessionID = "battery-\(UUID().uuidString.prefix(8).lowercased())"
        let request = SessionLaunchRequest(
            image: TestEngine.image, profile: profileName, workspace: workspaceName,
            command: ["/usr/local/bin/escape-probe", probeFlag] + arguments)
        let approved = try profile.approve(request)
        var proxy: EgressProxy?
        var mount: EgressMount?
        if !egress.isEmpty {
            let forwarder = TestEngine.repositoryRoot.appendingPathComponent(".build/sandcastle-gate/sandcastle-egress-forward").path
            try #require(FileManager.default.isExecutableFile(atPath: forwarder), "run scripts/build-gate first")
            let socketDirectory = try TestEngine.temporaryDirectory("battery-egress")
            let opened = EgressProxy(configuration: .init(), observer: SilentObserver())
            try await opened.open(
                sessionID: sessionID, profile: profileName, allow: approved.egress, uid: user.uid, directory: socketDirectory)
            proxy = opened
            mount = EgressMount(socketDirectory: socketDirectory, forwarder: forwarder)
        }
        let outcome = await Result {
            try await launch(
                approved: approved, user: user, workspace: workspace, resolver: resolver, sessionID: sessionID, egress: mount)
        }
        await proxy?.shutdown()
        if let mount { try? FileManager.default.removeItem(atPath: mount.socketDirectory) }
        return try outcome.get()
    }

    /// Creates, verifies and starts the probe's container, waits for it and reads its output.
    static func launch(
        approved: ApprovedSession, user: WorkspaceUser, workspace: ResolvedWorkspace, resolver: WorkspaceResolver,
        sessionID: String, egress mount: EgressMount?
    ) async throws -> Run {
        let client = try await TestEngine.client()
        let config = try LaunchSpec.containerConfig(
            for: approved, workspace: WorkspaceMount(hostPath: workspace.path), user: user, sessionID: sessionID, egress: mount)
        let launcher = SandboxLauncher(engine: client, logger: Logger(label: "test.battery"))
        let id = try await launcher.create(
            name: "sandcastle-\(sessionID)", config: config, workspace: workspace, egress: mount)
        do {
            try await client.startContainer(id)
            _ = try await client.waitContainer(id, timeout: .seconds(300))
            var output = ""
            for try await frame in try await client.logs(id, tty: true) { output += String(buffer: frame.payload) }
            let state = try await client.inspectContainer(id).state
            try? await client.removeContainer(id, force: true)
            let lines = output.split(whereSeparator: \.isNewline).compactMap { line -> ProbeLine? in
                let parts = line.split(separator: " ", maxSplits: 3)
                guard parts.count >= 3, parts[0] == "PROBE" else { return nil }
                return ProbeLine(name: String(parts[1]), verdict: String(parts[2]), detail: parts.count > 3 ? String(parts[3]) : "")
            }
            return Run(lines: lines, output: output, state: state, workspace: workspace, resolver: resolver)
        } catch {
            try? await client.removeContainer(id, force: true)
            throw error
        }
    }

    /// The repository's policies; with `egress`, a copy in which `profileName` has that allow list.
    static func policiesDirectory(_ profileName: String, egress: [String]) throws -> String {
        let policies = TestEngine.repositoryRoot.appendingPathComponent("Policies").path
        guard !egress.isEmpty else { return policies }
        let copy = try TestEngine.temporaryDirectory("battery-policies") + "/policies"
        try FileManager.default.copyItem(atPath: policies, toPath: copy)
        let file = copy + "/\(profileName).toml"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let list = egress.map { "\"\($0)\"" }.joined(separator: ", ")
        try (text + "\n[egress]\nallow = [\(list)]\n").write(toFile: file, atomically: true, encoding: .utf8)
        return copy
    }

    /// Egress off, and on with an allow list (nothing listed is reachable from here: the proxy
    /// socket and the forwarder are what the probes must not turn into a way out).
    @Test(arguments: [[], ["api.anthropic.com:443", "*.npmjs.org:443"]])
    func defaultProfileBlocksEveryProbe(egress: [String]) async throws {
        let run = try await Self.run(profileName: "default", arguments: ["--tmpfs-cap-mib", "1024"], egress: egress)
        for name in Self.requiredProbes {
            #expect(run.verdict(name) != nil, "probe \(name) did not report; output:\n\(run.output)")
        }
        #expect(run.escaped.isEmpty, "escaped under default: \(run.escaped.map { "\($0.name) (\($0.detail))" })")
        #expect(run.output.contains("SUMMARY blocked="), "no summary line:\n\(run.output)")
        #expect(run.state.exitCode == 0, "escape-probe exit \(run.state.exitCode):\n\(run.output)")
        #expect(run.verdict("fork-bomb") == "BLOCKED")
        #expect(run.verdict("tmpfs-fill") == "BLOCKED")

        // The sandbox planted `escape-link -> /` in its workspace. Host-side code sees a link and
        // never follows it: deleting the workspace removes the link, not what it points at.
        var info = stat()
        let link = run.workspace.path + "/escape-link"
        #expect(lstat(link, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK, "the sandbox could not plant its link")
        let canary = try TestEngine.temporaryDirectory("canary")
        #expect(FileManager.default.createFile(atPath: canary + "/keep", contents: Data("keep".utf8)))
        try FileManager.default.createSymbolicLink(atPath: run.workspace.path + "/canary-link", withDestinationPath: canary)
        #expect(try await run.resolver.delete(run.workspace.name))
        #expect(FileManager.default.fileExists(atPath: canary + "/keep"), "deleting the workspace followed a symlink")
        #expect(!FileManager.default.fileExists(atPath: run.workspace.path))
        try? FileManager.default.removeItem(atPath: canary)
        run.cleanUp()
    }

    @Test func debugProfileAllowsOnlyPtrace() async throws {
        let run = try await Self.run(profileName: "debug", arguments: ["--tmpfs-cap-mib", "1024"])
        defer { run.cleanUp() }
        for name in Self.requiredProbes {
            #expect(run.verdict(name) != nil, "probe \(name) did not report; output:\n\(run.output)")
        }
        #expect(run.verdict("ptrace") == "ESCAPED", "debug must allow ptrace:\n\(run.output)")
        #expect(run.escaped.map(\.name) == ["ptrace"], "escaped under debug: \(run.escaped.map { "\($0.name) (\($0.detail))" })")
    }

    @Test func memoryHogIsOOMKilledAndTheEngineSaysSo() async throws {
        let run = try await Self.run(profileName: "default", arguments: ["--only", "memory", "--memhog", "--memhog-cap-mib", "2048"])
        defer { run.cleanUp() }
        #expect(run.state.oomKilled, "state \(run.state); output:\n\(run.output)")
        #expect(run.verdict("memory") != "ESCAPED", "output:\n\(run.output)")
    }
}

/// The battery's egress proxy reports to no one.
private struct SilentObserver: EgressObserver {
    func egressDenied(_ denial: EgressDenial) {}
    func egressConnected(_ tunnel: EgressTunnelReport) {}
    func egressClosed(_ tunnel: EgressTunnelReport) {}
    func egressActivity(sessionID: String) {}
}

extension Result where Failure == any Error {
    /// The result of an async body.
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
