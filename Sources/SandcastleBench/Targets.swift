import Foundation

/// The performance targets (README, Performance), checked against a report.
public struct Targets: Sendable, Equatable {
    /// Warm launch, request to `hello`, for bursts up to the pool size.
    public var warmP50Microseconds: Double = 15_000
    public var warmP99Microseconds: Double = 50_000
    /// The daemon's CPU time per warm launch, its HTTP request, token and WebSocket included.
    public var warmDaemonCPUMicroseconds: Double = 1000
    /// Cold launch p50 over raw create+start p50.
    public var coldRatio: Double = 1.05
    /// Terminal throughput over raw attach throughput.
    public var throughputRatio: Double = 0.95
    /// Terminal throughput with the screen models over the same without them.
    public var screenThroughputRatio: Double = 0.9
    /// Echo round trip added by the daemon at p50.
    public var addedEchoMicroseconds: Double = 100
    /// Exec to first output over the engine's own exec (create, start, first byte), at p50.
    public var execRatio: Double = 1.2
    /// Idle attached sessions, and the daemon's resident memory with them.
    public var idleSessions = 500
    public var idleRSSBytes: Double = 200_000_000
    /// Building the repaint of a full 200x60 screen, p50.
    public var repaintP50Microseconds: Double = 1000

    public init() {}

    /// One verdict per target whose section the report has.
    public func evaluate(_ report: BenchReport) -> [BenchReport.Verdict] {
        var verdicts: [BenchReport.Verdict] = []
        func verdict(_ target: String, _ measured: Double, atMost limit: Double, unit: String, _ detail: String) {
            verdicts.append(.init(target: target, status: measured <= limit ? .pass : .fail, measured: measured, limit: limit, unit: unit, detail: detail))
        }
        for burst in report.warm ?? [] {
            let p50 = burst.launch.p50 / 1000
            let p99 = burst.launch.p99 / 1000
            verdict(
                "warm.burst\(burst.burst).p50", p50, atMost: warmP50Microseconds / 1000, unit: "ms",
                Self.howFar(p50, warmP50Microseconds / 1000, "ms") + " over \(burst.launch.count) launches")
            verdict(
                "warm.burst\(burst.burst).p99", p99, atMost: warmP99Microseconds / 1000, unit: "ms",
                Self.howFar(p99, warmP99Microseconds / 1000, "ms") + " over \(burst.launch.count) launches")
            if let cpu = burst.cpu, let daemon = cpu.daemonMicroseconds {
                verdict(
                    "warm.burst\(burst.burst).cpu", daemon / 1000, atMost: warmDaemonCPUMicroseconds / 1000, unit: "ms",
                    cpu.describe("launch"))
            }
        }
        if let cold = report.cold {
            verdict(
                "cold.ratio", cold.ratioP50, atMost: coldRatio, unit: "x raw",
                String(format: "p50 %.1f ms vs raw create+start %.1f ms", cold.daemon.p50 / 1000, cold.raw.p50 / 1000)
                    + (cold.calls.map {
                        String(format: "; the launch's engine calls made directly %.1f ms (%.2fx)", $0.p50 / 1000, $0.p50 / cold.raw.p50)
                    } ?? "")
                    + (cold.cpu.map { "; " + $0.describe("launch") } ?? ""))
        }
        func verdict(_ target: String, _ measured: Double, atLeast limit: Double, unit: String, _ detail: String) {
            verdicts.append(.init(target: target, status: measured >= limit ? .pass : .fail, measured: measured, limit: limit, unit: unit, detail: detail))
        }
        if let throughput = report.throughput {
            verdict(
                "throughput.ratio", throughput.ratio, atLeast: throughputRatio, unit: "x raw",
                String(
                    format: "%.1f MB/s vs raw attach %.1f MB/s", throughput.daemonBytesPerSecond / 1e6,
                    throughput.rawBytesPerSecond / 1e6))
        }
        if let on = report.throughput, let off = report.throughputWithoutScreens {
            // The two come from separate runs, and on shared cores the machine's pace moves
            // between them: each is taken against the raw attach of its own run.
            verdict(
                "screen.throughput_ratio", on.ratio / off.ratio, atLeast: screenThroughputRatio,
                unit: "x without",
                String(
                    format: "%.2fx raw attach with screen models (%.1f MB/s) vs %.2fx without (%.1f MB/s; raw %.1f and %.1f MB/s)",
                    on.ratio, on.daemonBytesPerSecond / 1e6, off.ratio, off.daemonBytesPerSecond / 1e6,
                    on.rawBytesPerSecond / 1e6, off.rawBytesPerSecond / 1e6))
        }
        if let echo = report.echo {
            verdict(
                "echo.added_p50", echo.addedP50, atMost: addedEchoMicroseconds, unit: "us",
                String(format: "p50 %.0f us vs raw %.0f us", echo.daemon.p50, echo.raw.p50)
                    + (echo.relayAddedP50.map { String(format: "; a bare relay (socat) adds %.0f us", $0) } ?? ""))
        }
        if let screen = report.screen {
            verdict(
                "screen.repaint_p50", screen.build.p50 / 1000, atMost: repaintP50Microseconds / 1000, unit: "ms",
                String(
                    format: "%dx%d, pen changing every %d cells, %d bytes; CPU p50 %.3f ms", screen.columns, screen.rows,
                    screen.penRun, screen.repaintBytes, screen.buildCPU.p50 / 1000))
        }
        if let exec = report.exec {
            verdict(
                "exec.ratio", exec.ratioP50, atMost: execRatio, unit: "x raw",
                String(format: "p50 %.2f ms vs raw exec %.2f ms", exec.daemon.p50 / 1000, exec.raw.p50 / 1000)
                    + (exec.daemonCPUMicrosecondsPerExec.map { String(format: "; daemon CPU %.0f us per exec", $0) } ?? ""))
        }
        if let idle = report.idle {
            if idle.sessions >= idleSessions {
                verdict(
                    "idle.rss", Double(idle.rssBytes) / 1e6, atMost: idleRSSBytes / 1e6, unit: "MB",
                    String(
                        format: "%d sessions; %.1f KB per session over a %.1f MB baseline", idle.sessions,
                        idle.perSessionBytes / 1e3, Double(idle.baselineRSSBytes) / 1e6))
            } else {
                // Fewer sessions than the target: judged on the projection, and saying so.
                let projected = idle.projectedRSS(sessions: idleSessions) / 1e6
                verdict(
                    "idle.rss", projected, atMost: idleRSSBytes / 1e6, unit: "MB",
                    String(
                        format: "projected to %d from %d sessions (%.1f MB measured; %.1f KB per session)", idleSessions,
                        idle.sessions, Double(idle.rssBytes) / 1e6, idle.perSessionBytes / 1e3))
            }
        }
        verdicts += filesVerdicts(report.files)
        verdicts += egressVerdicts(report.egress)
        return verdicts
    }

    static func howFar(_ measured: Double, _ limit: Double, _ unit: String) -> String {
        measured <= limit
            ? String(format: "%.2f %@ under the limit", limit - measured, unit)
            : String(format: "%.2f %@ over the limit", measured - limit, unit)
    }
}

extension BenchReport {
    /// The report as a plain-text table: every measurement, then every target with its verdict.
    public func table() -> String {
        var lines: [String] = []
        func row(_ name: String, _ summary: LatencySummary, scale: Double = 1000, unit: String = "ms") {
            lines.append(
                name.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + String(
                        format: "%6d %10.2f %10.2f %10.2f %10.2f  %@", summary.count, summary.p50 / scale,
                        summary.p99 / scale, summary.min / scale, summary.max / scale, unit))
        }
        lines.append(
            "measurement".padding(toLength: 34, withPad: " ", startingAt: 0)
                + "     n        p50        p99        min        max")
        if let cold = cold {
            row("cold launch (API to hello)", cold.daemon)
            row("raw create+start", cold.raw)
            if let calls = cold.calls { row("raw create+inspect+attach+start", calls) }
        }
        for burst in warm ?? [] {
            row("warm launch, burst \(burst.burst)", burst.launch)
        }
        func cpuLine(_ name: String, _ cpu: CPUPerOperation?, per noun: String = "launch", plural: String = "launches") {
            guard let cpu else { return }
            lines.append(name + ": " + cpu.describe(noun) + " (\(cpu.operations) \(plural))")
        }
        cpuLine("cold launch CPU", cold?.cpu)
        cpuLine("raw create+start CPU", cold?.rawCPU)
        cpuLine("raw create+inspect+attach+start CPU", cold?.callsCPU)
        for burst in warm ?? [] { cpuLine("warm launch CPU, burst \(burst.burst)", burst.cpu) }
        for burst in warm ?? [] {
            cpuLine("pool refill CPU, burst \(burst.burst)", burst.refill, per: "slot", plural: "slots")
        }
        if let quietPenalty { lines.append(quietPenalty.tableLine()) }
        if let echo = echo {
            row("echo round trip (daemon)", echo.daemon, scale: 1, unit: "us")
            row("echo round trip (raw attach)", echo.raw, scale: 1, unit: "us")
            if let relay = echo.relay { row("echo round trip (bare relay)", relay, scale: 1, unit: "us") }
        }
        cpuLine("echo CPU (daemon)", echo?.cpu, per: "round trip", plural: "round trips")
        cpuLine("echo CPU (raw attach)", echo?.rawCPU, per: "round trip", plural: "round trips")
        cpuLine("echo CPU (bare relay)", echo?.relayCPU, per: "round trip", plural: "round trips")
        if let relay = echo?.relayMicroseconds { lines.append(String(format: "echo CPU (socat itself): %.0f us per round trip", relay)) }
        if let exec = exec {
            row("exec to first output (daemon)", exec.daemon)
            row("raw exec create+start+first byte", exec.raw)
        }
        if let throughput = throughput {
            lines.append(
                String(
                    format: "throughput, %d MiB: daemon %.1f MB/s (%.2f s), raw attach %.1f MB/s (%.2f s)",
                    throughput.bytes >> 20, throughput.daemonBytesPerSecond / 1e6, throughput.daemonSeconds,
                    throughput.rawBytesPerSecond / 1e6, throughput.rawSeconds))
        }
        if let off = throughputWithoutScreens {
            lines.append(
                String(
                    format: "throughput without screen models, %d MiB: daemon %.1f MB/s (%.2f s), raw attach %.1f MB/s",
                    off.bytes >> 20, off.daemonBytesPerSecond / 1e6, off.daemonSeconds, off.rawBytesPerSecond / 1e6))
        }
        if let screen = screen {
            row("repaint \(screen.columns)x\(screen.rows) (build, wall)", screen.build)
            row("repaint \(screen.columns)x\(screen.rows) (build, CPU)", screen.buildCPU)
            lines.append("repaint \(screen.columns)x\(screen.rows): \(screen.repaintBytes) bytes")
        }
        if let idle = idle {
            lines.append(
                String(
                    format: "idle: %d attached sessions, daemon VmRSS %.1f MB (baseline %.1f MB, %.1f KB per session)",
                    idle.sessions, Double(idle.rssBytes) / 1e6, Double(idle.baselineRSSBytes) / 1e6, idle.perSessionBytes / 1e3))
            if let perSecond = idle.idleMicrosecondsPerSecond, let scrape = idle.scrapeMicroseconds {
                lines.append(
                    String(
                        format: "idle: daemon CPU %.0f us per second with them idle; %.0f us per GET /metrics",
                        perSecond, scrape))
            }
            if let list = idle.listMicroseconds {
                lines.append(
                    String(
                        format: "idle: daemon CPU %.0f us per GET /v1/sessions of all %d (%d listings)", list,
                        min(idle.sessions, 1000), Benchmark.idleListings))
            }
        }
        if let files { lines += files.tableLines(row) }
        if let egress { lines += egress.tableLines(row) }
        if let http { lines += http.tableLines() }
        if let terminal { lines += terminal.tableLines(row) }
        if !verdicts.isEmpty {
            lines.append("")
            lines.append("target".padding(toLength: 26, withPad: " ", startingAt: 0) + "result  measured      limit")
            for verdict in verdicts {
                lines.append(
                    verdict.target.padding(toLength: 26, withPad: " ", startingAt: 0)
                        + verdict.status.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)
                        + String(format: "%8.2f %@ <=> %.2f %@  ", verdict.measured, verdict.unit, verdict.limit, verdict.unit)
                        + verdict.detail)
            }
        }
        return lines.joined(separator: "\n")
    }
}
