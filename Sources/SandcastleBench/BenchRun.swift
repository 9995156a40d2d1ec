import DockerEngine
import Foundation
import Logging
import SandboxPolicy

#if canImport(Glibc)
import Glibc
#endif

/// Sets up a whole run from the command line's choices: the engine, the daemon (started here
/// or one already running), the raw side's workspace; runs the benchmark; cleans up.
public struct BenchRun: Sendable {
    /// A daemon that is already running, reached over TCP.
    public struct RunningDaemon: Sendable {
        public var host: String
        public var port: Int
        public var apiKey: String
        public var pid: Int32?

        public init(host: String, port: Int, apiKey: String, pid: Int32?) {
            self.host = host
            self.port = port
            self.apiKey = apiKey
            self.pid = pid
        }
    }

    public var options: BenchOptions
    /// nil: start `daemonExecutable` with a configuration of the run's own.
    public var running: RunningDaemon?
    public var daemonExecutable: String
    public var daemonLogLevel = "info"
    /// TOML appended to the started daemon's configuration.
    public var extraDaemonConfig = ""
    public var keepFiles = false

    public init(options: BenchOptions, running: RunningDaemon?, daemonExecutable: String) {
        self.options = options
        self.running = running
        self.daemonExecutable = daemonExecutable
    }

    /// A daemon keeps the privileges to mount only when its configuration names a pool: the warm
    /// section declares one of size 0 and sizes it through the admin API.
    var poolConfig: String {
        guard options.sections.contains(.warm) else { return "" }
        return """

            [[pool.targets]]
            profile = "\(options.profile)"
            image = "\(options.image)"
            size = 0

            """
    }

    public func run(logger: Logger) async throws -> BenchReport {
        let endpoint = try DockerEndpoint.fromEnvironment(ProcessInfo.processInfo.environment)
        let client = try await DockerClient.connect(.init(endpoint: endpoint), logger: Logger(label: "sandcastle.bench.docker"))
        let policies = try PolicySet.load(directory: options.policies)
        guard let profile = policies.profile(named: options.profile) else {
            throw BenchError.usage("no profile \(options.profile) in \(options.policies)")
        }
        let runID = String(UUID().uuidString.prefix(8).lowercased())
        let scratch = try makeTemporaryDirectory(prefix: "sandcastle-bench-raw-")
        defer { if !keepFiles { try? FileManager.default.removeItem(atPath: scratch) } }
        let workspace = scratch + "/workspace"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: false)
        chown(workspace, profile.uids.first, profile.uids.first)
        chmod(scratch, 0o755)
        let raw = RawEngine(client: client, profile: profile, image: options.image, workspace: workspace, runID: runID)

        // The egress section's servers and profile: the daemon started below is configured for them.
        let egressWorld =
            running == nil && options.sections.contains(.egress)
            ? try await EgressBenchWorld.start(policies: absolute(options.policies), baseProfile: options.profile) : nil
        defer { egressWorld?.stop() }
        var started: DaemonProcess?
        let target: Benchmark.Target
        if let running {
            target = .init(api: DaemonAPI(host: running.host, port: running.port, apiKey: running.apiKey), pid: running.pid)
        } else {
            let daemon = try await DaemonProcess.start(
                executable: daemonExecutable, engine: endpoint, policies: egressWorld?.policies ?? absolute(options.policies),
                logLevel: daemonLogLevel, viewerQueueBytes: options.viewerQueueBytes, screens: options.screens,
                extraConfig: extraDaemonConfig + poolConfig + (egressWorld?.daemonConfig ?? ""))
            logger.notice("sandcastled started", metadata: ["pid": "\(daemon.pid)", "port": "\(daemon.port)", "log": "\(daemon.logFile)"])
            started = daemon
            target = .init(
                api: DaemonAPI(host: "127.0.0.1", port: daemon.port, apiKey: daemon.apiKey), pid: daemon.pid,
                workspaceRoot: daemon.directory + "/workspaces")
        }
        var benchmark = Benchmark(
            options: options, target: target, raw: raw, pool: AdminPoolControl(api: target.api), runID: runID, logger: logger)
        benchmark.egressWorld = egressWorld
        var uname = utsname()
        _ = uname_release(&uname)
        let environment = BenchReport.Environment(
            sections: options.sections.map(\.rawValue), engineVersion: client.engineVersion.version,
            engineAPIVersion: client.apiVersion.description, processors: ProcessInfo.processInfo.activeProcessorCount,
            kernel: releaseString(uname), image: options.image, profile: options.profile,
            startedAt: ISO8601DateFormatter().string(from: Date()))
        do {
            let report = try await benchmark.run(environment: environment)
            await cleanUp(started, raw: raw, logger: logger)
            return report
        } catch {
            await cleanUp(started, raw: raw, logger: logger)
            throw error
        }
    }

    private func cleanUp(_ daemon: DaemonProcess?, raw: RawEngine, logger: Logger) async {
        await raw.sweep()
        guard let daemon else { return }
        await daemon.stop()
        // The daemon leaves sessions running when it stops; a run leaves none behind.
        if let instance = daemon.instanceID {
            var filters = DockerFilters()
            filters.label(SandcastleLabels.instance, instance)
            for container in (try? await raw.client.listContainers(all: true, filters: filters)) ?? [] {
                await raw.remove(container.id)
            }
        }
        if keepFiles {
            logger.notice("kept the daemon's files", metadata: ["directory": "\(daemon.directory)"])
        } else {
            daemon.removeDirectory()
        }
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

private func uname_release(_ value: inout utsname) -> Int32 { uname(&value) }

private func releaseString(_ value: utsname) -> String {
    withUnsafeBytes(of: value.release) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
