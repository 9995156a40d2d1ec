// sandcastle-bench: the daemon side by side with the raw engine. Everything but argument parsing
// lives in SandcastleBench.
import ArgumentParser
import Foundation
import Logging
import SandcastleBench

@main
struct SandcastleBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandcastle-bench",
        abstract: "Measure sandcastled beside the raw Docker engine and check the performance targets.",
        discussion: """
            Starts a sandcastled of its own (temporary state, API on a loopback TCP port, the engine from \
            DOCKER_HOST), unless --url names a running one. Prints a table; --json writes the report. \
            Exit status: 0 when every measured target passed, 1 when one failed, 2 on an error.
            """)

    @Option(help: "Sections to run, comma-separated: idle, http, terminal, cold, echo, throughput, warm, files, screen, exec, egress.")
    var sections = "idle,http,terminal,cold,echo,throughput,warm,files,screen,exec,egress"
    @Option(help: "Write the report as JSON to this file.")
    var json: String?
    @Option(help: "A running daemon's TCP API, http://HOST:PORT (its allowed_origins must include ws://HOST).")
    var url: String?
    @Option(help: "The running daemon's API key (admin for the warm section); default $SANDCASTLE_API_KEY.")
    var apiKey: String?
    @Option(help: "The running daemon's pid, for the idle section's VmRSS.")
    var daemonPid: Int32?
    @Option(help: "The sandcastled to start (default: next to this executable).")
    var daemon: String?
    @Option(help: "The started daemon's log level.")
    var daemonLogLevel = "info"
    @Option(help: "The policy profiles directory (the daemon's).")
    var policies = "Policies"
    @Option(help: "Session image.")
    var image = "sandcastle/testbox:latest"
    @Option(help: "Policy profile.")
    var profile = "default"
    @Option(help: "Cold launches (and as many raw create+starts).")
    var coldSamples = 20
    @Option(help: "Warm burst sizes, comma-separated; the pool is sized to each.")
    var warmBursts = "1,8,32"
    @Option(help: "At least this many warm launches per burst size.")
    var warmSamples = 32
    @Option(help: "MiB through the terminal in the throughput section.")
    var throughputMib = 256
    @Option(help: "Echo round trips per side.")
    var echoSamples = 2000
    @Option(help: "Execs of echo x per side.")
    var execSamples = 200
    @Option(help: "Files: 1 MiB writes, and as many reads.")
    var fileSamples = 200
    @Option(help: "Egress: HTTPS requests per side (time to first byte).")
    var egressSamples = 200
    @Option(help: "Egress: MiB downloaded per side and round.")
    var egressMib = 256
    @Option(help: "Egress: sessions, and tunnels held open at once across them.")
    var egressSessions = 20
    @Option(help: "Egress: tunnels held open at once.")
    var egressTunnels = 200
    @Option(help: "HTTP: requests per kind (new connection, kept alive, authenticated lookup).")
    var httpRequests = 300
    @Option(help: "Terminal: viewers that join a running session's terminal, one after another.")
    var terminalConnections = 300
    @Option(help: "Idle attached sessions.")
    var idleSessions = 500
    @Option(help: "Concurrent session creations and removals.")
    var concurrency = 16
    @Option(help: "The started daemon's [relay] viewer_queue_bytes, in MiB (the daemon's default is 1).")
    var viewerQueueMib = 32
    @Option(help: "TOML appended to the started daemon's configuration.")
    var daemonConfig: String?
    @Flag(help: "Start the daemon with [relay] screens = false (throughput without screen models).")
    var noScreens = false
    @Flag(help: "Keep the temporary state, workspaces and daemon log.")
    var keep = false
    @Option(help: "Merge these JSON reports (comma-separated) into one and print it, without measuring.")
    var combine: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = label.hasPrefix("sandcastle.bench.ws") || label.hasPrefix("sandcastle.bench.docker") ? .warning : .info
            return handler
        }
        let logger = Logger(label: "sandcastle.bench")
        let report: BenchReport
        do {
            report = try await measureOrCombine(logger: logger)
        } catch let error as BenchError {
            FileHandle.standardError.write(Data("sandcastle-bench: \(error)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("sandcastle-bench: \(error)\n".utf8))
            throw ExitCode(2)
        }
        print(report.table())
        if let json {
            try report.jsonData().write(to: URL(fileURLWithPath: json))
            print("\nreport written to \(json)")
        }
        if report.verdicts.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
    }

    func measureOrCombine(logger: Logger) async throws -> BenchReport {
        if let combine {
            let files = combine.split(separator: ",").map(String.init)
            var merged = BenchReport()
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { throw BenchError.usage("cannot read \(file)") }
                merged = merged.merged(with: try BenchReport.decode(data))
            }
            return merged
        }
        var options = BenchOptions()
        options.sections = try sections.split(separator: ",").map { name in
            guard let section = BenchOptions.Section(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw BenchError.usage("unknown section \(name): use \(BenchOptions.Section.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return section
        }
        options.image = image
        options.profile = profile
        options.policies = policies
        options.coldSamples = coldSamples
        options.warmBursts = try warmBursts.split(separator: ",").map {
            guard let value = Int($0), value > 0 else { throw BenchError.usage("--warm-bursts takes positive integers") }
            return value
        }
        options.warmSamples = warmSamples
        options.throughputBytes = throughputMib << 20
        options.echoSamples = echoSamples
        options.execSamples = execSamples
        guard fileSamples > 0 else { throw BenchError.usage("--file-samples must be at least 1") }
        options.fileSamples = fileSamples
        options.httpRequests = httpRequests
        guard terminalConnections > 0 else { throw BenchError.usage("--terminal-connections must be at least 1") }
        options.terminalConnections = terminalConnections
        options.egressSamples = egressSamples
        options.egressDownloadBytes = egressMib << 20
        options.egressSessions = egressSessions
        options.egressTunnels = egressTunnels
        options.idleSessions = idleSessions
        options.createConcurrency = concurrency
        guard viewerQueueMib > 0 else { throw BenchError.usage("--viewer-queue-mib must be at least 1") }
        options.viewerQueueBytes = viewerQueueMib << 20
        options.screens = !noScreens

        var running: BenchRun.RunningDaemon?
        if let url {
            guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
                throw BenchError.usage("--url must be http://HOST:PORT")
            }
            guard let key = apiKey ?? ProcessInfo.processInfo.environment["SANDCASTLE_API_KEY"] else {
                throw BenchError.usage("--url needs --api-key or SANDCASTLE_API_KEY")
            }
            running = .init(host: host, port: port, apiKey: key, pid: daemonPid)
        }
        let executable = daemon ?? (Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("sandcastled").path ?? "sandcastled")
        var run = BenchRun(options: options, running: running, daemonExecutable: executable)
        run.daemonLogLevel = daemonLogLevel
        run.keepFiles = keep
        if let daemonConfig {
            guard let text = try? String(contentsOfFile: daemonConfig, encoding: .utf8) else {
                throw BenchError.usage("cannot read --daemon-config \(daemonConfig)")
            }
            run.extraDaemonConfig = text
        }
        return try await run.run(logger: logger)
    }
}
