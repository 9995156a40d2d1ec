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
