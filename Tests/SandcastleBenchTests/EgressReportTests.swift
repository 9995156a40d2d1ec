import Foundation
@testable import SandcastleBench
import Testing

/// The egress section's targets and its place in the report. No timing here.
@Suite("Benchmark report: egress")
struct EgressReportTests {
    static func egress(ttfbTunnelP50: Double, tunnelBytesPerSecond: Double, errors: Int) -> BenchReport.Egress {
        let direct = LatencySummary(count: 200, p50: 3000, p99: 6000, min: 2500, max: 7000, mean: 3200)
        var tunnel = direct
        tunnel.p50 = ttfbTunnelP50
        return BenchReport.Egress(
            ttfbDirect: direct, ttfbTunnel: tunnel, daemonCPUMicrosecondsPerRequest: 400, downloadBytes: 256 << 20,
            directBytesPerSecond: 1e9, tunnelBytesPerSecond: tunnelBytesPerSecond, daemonCPUMicrosecondsPerMiB: 900,
            concurrentSessions: 20, concurrentTunnels: 200, concurrentErrors: errors, concurrentSeconds: 0.5,
            daemonCPUMicrosecondsPerTunnel: 300, rssBeforeBytes: 60_000_000, rssWithTunnelsBytes: 70_000_000,
            rssAfterBytes: 61_000_000)
    }

    func statuses(_ egress: BenchReport.Egress) -> [String: BenchReport.Verdict.Status] {
        var report = BenchReport()
        report.egress = egress
        return Dictionary(uniqueKeysWithValues: Targets().evaluate(report).map { ($0.target, $0.status) })
    }

    @Test func targetsPassAndFailAtTheirLimits() {
        let atLimits = statuses(Self.egress(ttfbTunnelP50: 4000, tunnelBytesPerSecond: 0.9e9, errors: 0))
        #expect(atLimits == ["egress.added_ttfb_p50": .pass, "egress.throughput": .pass, "egress.concurrent": .pass])
        let over = statuses(Self.egress(ttfbTunnelP50: 4001, tunnelBytesPerSecond: 0.89e9, errors: 1))
        #expect(over == ["egress.added_ttfb_p50": .fail, "egress.throughput": .fail, "egress.concurrent": .fail])
    }

    @Test func theSectionRoundTripsAndMerges() throws {
        var report = BenchReport()
        report.egress = Self.egress(ttfbTunnelP50: 3500, tunnelBytesPerSecond: 0.95e9, errors: 0)
        #expect(try BenchReport.decode(try report.jsonData()).egress == report.egress)
        let merged = BenchReport().merged(with: report)
        #expect(merged.egress == report.egress)
        #expect(merged.verdicts.contains { $0.target == "egress.concurrent" })
        #expect(report.table().contains("egress: 200 tunnels open at once from 20 sessions, 0 errors"))
        report.egress?.relayChainBytesPerSecond = 0.4e9
        #expect(try BenchReport.decode(try report.jsonData()).egress?.relayChainBytesPerSecond == 0.4e9)
        #expect(report.table().contains("two splicing relays 400.0 MB/s (0.40x direct)"))
        #expect(Targets().evaluate(report).first { $0.target == "egress.throughput" }?.detail.contains("the tunnel 2.38x of them") == true)
    }
}
