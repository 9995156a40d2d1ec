import Testing

@testable import SandcastleBench

/// The `screen` section: a real repaint is measured, reported and judged (no timing asserted).
@Suite("Benchmark screen section")
struct ScreenBenchTests {
    @Test func theRepaintIsMeasuredReportedAndJudged() throws {
        let screen = ScreenBench.measure(columns: 20, rows: 5, run: 1, samples: 3)
        // 100 cells, each with its own SGR: far more than the 100 characters.
        #expect(screen.repaintBytes > 1000)
        #expect(screen.build.count == 3 && screen.buildCPU.count == 3)
        var report = BenchReport()
        report.screen = screen
        let verdict = try #require(Targets().evaluate(report).first { $0.target == "screen.repaint_p50" })
        #expect(verdict.limit == 1)
        #expect(report.table().contains("repaint 20x5: \(screen.repaintBytes) bytes"))
        let decoded = try BenchReport.decode(try report.jsonData())
        #expect(decoded.screen == screen)
        #expect(BenchReport().merged(with: report).screen == screen)
    }
}
