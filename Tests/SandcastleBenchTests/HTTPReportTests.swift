import Foundation
@testable import SandcastleBench
import Testing

/// The http section's place in the report (it has no target: it explains the launch's CPU).
@Suite("Benchmark report: http")
struct HTTPReportTests {
    @Test func theHTTPCostRoundTripsMergesAndPrints() throws {
        var report = BenchReport()
        report.http = .init(requests: 300, newConnectionMicroseconds: 577, keptAliveMicroseconds: 156, authenticatedLookupMicroseconds: 377)
        #expect(try BenchReport.decode(try report.jsonData()).http == report.http)
        #expect(BenchReport().merged(with: report).http == report.http)
        #expect(report.table().contains("new connection 577 us, kept alive 156 us, authenticated lookup kept alive 377 us"))
        #expect(!report.table().contains("wake-ups"))
        report.http?.newConnectionWakeups = 12
        report.http?.keptAliveWakeups = 4.5
        report.http?.authenticatedLookupWakeups = 7
        #expect(try BenchReport.decode(try report.jsonData()).http == report.http)
        #expect(report.table().contains("wake-ups per request: new connection 12.0, kept alive 4.5, authenticated lookup kept alive 7.0"))
    }
}

/// The terminal section's place in the report (no target either: it splits a warm launch's CPU
/// into its terminal connection and its create).
@Suite("Benchmark report: terminal connections")
struct TerminalConnectionsReportTests {
    @Test func theTerminalConnectionCostRoundTripsMergesAndPrints() throws {
        var report = BenchReport()
        let latency = try #require(LatencySummary(microseconds: [2_100, 2_400, 3_900]))
        report.terminal = .init(connections: 300, daemonMicroseconds: 812, daemonWakeups: 3.6, latency: latency)
        #expect(try BenchReport.decode(try report.jsonData()).terminal == report.terminal)
        #expect(BenchReport().merged(with: report).terminal == report.terminal)
        #expect(BenchReport().merged(with: report).http == nil)
        let table = report.table()
        #expect(table.contains("terminal: daemon CPU per connection (upgrade, hello, close), 300 of them: 812 us, 3.6 wake-ups"))
        #expect(table.contains("terminal connection to hello"))
    }
}
