import Foundation
import SandcastleBench
import Testing

/// The benchmark's pure logic: percentiles, targets, the JSON shape and merging. No timing here.
@Suite("Benchmark report")
struct BenchReportTests {
    @Test func nearestRankPercentiles() throws {
        // 1...100 shuffled: p50 is the 50th value, p99 the 99th; min, max and mean exact.
        let samples = (1...100).map(Double.init).shuffled()
        let summary = try #require(LatencySummary(microseconds: samples))
        #expect(summary.count == 100)
        #expect(summary.p50 == 50)
        #expect(summary.p99 == 99)
        #expect(summary.min == 1)
        #expect(summary.max == 100)
        #expect(summary.mean == 50.5)
    }

    @Test func smallSamplesGiveMeasuredValues() throws {
        // With 3 samples p99 is the largest and p50 the middle: never an interpolation.
        let summary = try #require(LatencySummary(microseconds: [30, 10, 20]))
        #expect(summary.p50 == 20)
        #expect(summary.p99 == 30)
        let one = try #require(LatencySummary(microseconds: [7]))
        #expect(one.p50 == 7 && one.p99 == 7)
        #expect(LatencySummary(microseconds: []) == nil)
        #expect(LatencySummary.percentile(50, ofSorted: [1, 2, 3, 4]) == 2)
    }

    @Test func durationsAreConvertedToMicroseconds() throws {
        let summary = try #require(LatencySummary([.milliseconds(2), .microseconds(500), .nanoseconds(1500)]))
        #expect(summary.min == 1.5)
        #expect(summary.max == 2000)
    }

    @Test func parsesVmRSS() {
        let status = "Name:\tsandcastled\nVmPeak:\t  300000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n"
        #expect(ResidentMemory.parseVmRSS(status) == 12345 * 1024)
        #expect(ResidentMemory.parseVmRSS("Name:\tx\n") == nil)
    }

    @Test func readsColdPoolClaimsFromMetrics() {
        let metrics = """
            # TYPE sandcastle_pool_claims_total counter
            sandcastle_pool_claims_total{profile="default",result="warm"} 40
            sandcastle_pool_claims_total{profile="default",result="cold"} 3
            sandcastle_pool_claims_total{result="cold",profile="small"} 2
            sandcastle_relay_viewers 1
            """
        #expect(AdminPoolControl.coldClaims(inMetrics: metrics) == 5)
        #expect(AdminPoolControl.coldClaims(inMetrics: "sandcastle_relay_viewers 1\n") == nil)
    }

    static func summary(p50: Double, p99: Double) -> LatencySummary {
        LatencySummary(count: 10, p50: p50, p99: p99, min: p50 / 2, max: p99, mean: p50)
    }

    static func sampleReport() -> BenchReport {
        var report = BenchReport()
        report.cold = .init(
            daemon: summary(p50: 190_000, p99: 250_000), raw: summary(p50: 180_000, p99: 240_000),
            calls: summary(p50: 184_500, p99: 245_000))
        report.warm = [
            .init(burst: 1, rounds: 32, coldFallbacks: 0, launch: summary(p50: 9_000, p99: 14_000)),
            .init(burst: 32, rounds: 1, coldFallbacks: 0, launch: summary(p50: 16_000, p99: 60_000)),
        ]
        report.throughput = .init(bytes: 256 << 20, daemonSeconds: 11, rawSeconds: 10)
        report.echo = .init(
            daemon: summary(p50: 340, p99: 900), raw: summary(p50: 260, p99: 700),
            cpu: .init(daemonMicroseconds: 60, clientMicroseconds: 40, daemonWakeups: 2, operations: 2000),
            rawCPU: .init(daemonMicroseconds: nil, clientMicroseconds: 30, operations: 2000),
            relay: summary(p50: 300, p99: 800),
            relayCPU: .init(daemonMicroseconds: nil, clientMicroseconds: 31, restMicroseconds: 90, operations: 2000),
            relayMicroseconds: 55)
        report.idle = .init(sessions: 500, baselineRSSBytes: 40_000_000, rssBytes: 150_000_000)
        report.quietPenalty = .init(bytes: 4 << 20, backToBackMicroseconds: 50, afterQuietMicroseconds: 150, rounds: 16)
        report.verdicts = Targets().evaluate(report)
        return report
    }

    @Test func targetsPassAndFailAtTheirLimits() throws {
        let verdicts = Dictionary(uniqueKeysWithValues: Self.sampleReport().verdicts.map { ($0.target, $0) })
        #expect(verdicts["warm.burst1.p50"]?.status == .pass)
        #expect(verdicts["warm.burst1.p99"]?.status == .pass)
        #expect(verdicts["warm.burst32.p50"]?.status == .fail)
        #expect(verdicts["warm.burst32.p99"]?.status == .fail)
        // 190 / 180 = 1.056 > 1.05.
        #expect(verdicts["cold.ratio"]?.status == .fail)
        #expect(abs((verdicts["cold.ratio"]?.measured ?? 0) - 190.0 / 180.0) < 1e-9)
        // The engine calls made directly are a reference in the detail, not a target.
        #expect(verdicts["cold.ratio"]?.detail.contains("the launch's engine calls made directly 184.5 ms (1.02x)") == true)
        // 10 / 11 = 0.909 < 0.95.
        #expect(verdicts["throughput.ratio"]?.status == .fail)
        // 340 - 260 = 80 us added.
        #expect(verdicts["echo.added_p50"]?.status == .pass)
        #expect(verdicts["echo.added_p50"]?.measured == 80)
        // The bare relay is a reference beside the target, not a target of its own.
        #expect(verdicts["echo.added_p50"]?.detail.hasSuffix("a bare relay (socat) adds 40 us") == true)
        #expect(verdicts["idle.rss"]?.status == .pass)
        #expect(verdicts["idle.rss"]?.measured == 150)
        #expect(verdicts.count == 8)
    }

    @Test func screenModelsAreJudgedAgainstTheRawSideOfTheirOwnRun() throws {
        var report = BenchReport()
        // With models: 28 MB/s beside a raw 30; without, in a faster run: 34 beside a raw 34.
        // Against each other 0.82x, but against their own runs' pace 0.933 / 1.0.
        report.throughput = .init(bytes: 280_000_000, daemonSeconds: 10, rawSeconds: 280.0 / 300.0 * 10, screens: true)
        report.throughputWithoutScreens = .init(bytes: 340_000_000, daemonSeconds: 10, rawSeconds: 10, screens: false)
        let verdict = try #require(Targets().evaluate(report).first { $0.target == "screen.throughput_ratio" })
        #expect(abs(verdict.measured - 28.0 / 30.0) < 1e-9)
        #expect(verdict.status == .pass)
        report.throughput?.daemonSeconds = 11
        #expect(Targets().evaluate(report).first { $0.target == "screen.throughput_ratio" }?.status == .fail)
    }

    @Test func fewerIdleSessionsAreJudgedOnTheProjection() throws {
        var report = BenchReport()
        // 100 sessions cost 50 MB over a 40 MB baseline: 500 would be 40 + 250 = 290 MB.
        report.idle = .init(sessions: 100, baselineRSSBytes: 40_000_000, rssBytes: 90_000_000)
        let verdict = try #require(Targets().evaluate(report).first)
        #expect(verdict.target == "idle.rss")
        #expect(verdict.status == .fail)
        #expect(verdict.measured == 290)
        #expect(verdict.detail.contains("projected"))
    }

    @Test func theIdleSessionsCPURoundTripsIsPrintedAndMayBeAbsent() throws {
        var report = BenchReport()
        report.idle = .init(
            sessions: 500, baselineRSSBytes: 57_000_000, rssBytes: 86_000_000, idleMicrosecondsPerSecond: 1_300,
            scrapeMicroseconds: 420, listMicroseconds: 9_100)
        let data = try report.jsonData()
        #expect(try BenchReport.decode(data) == report)
        #expect(report.table().contains("idle: daemon CPU 1300 us per second with them idle; 420 us per GET /metrics"))
        #expect(report.table().contains("idle: daemon CPU 9100 us per GET /v1/sessions of all 500 (10 listings)"))
        // A report from before these were measured.
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var idle = try #require(object["idle"] as? [String: Any])
        idle["idleMicrosecondsPerSecond"] = nil
        idle["scrapeMicroseconds"] = nil
        idle["listMicroseconds"] = nil
        object["idle"] = idle
        let earlier = try BenchReport.decode(try JSONSerialization.data(withJSONObject: object))
        #expect(earlier.idle?.idleMicrosecondsPerSecond == nil && earlier.idle?.rssBytes == 86_000_000)
        #expect(!earlier.table().contains("per GET /metrics") && !earlier.table().contains("per GET /v1/sessions"))
    }

    @Test func jsonShapeRoundTripsWithDerivedFields() throws {
        let report = Self.sampleReport()
        let data = try report.jsonData()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["format"] as? Int == 1)
        let cold = try #require(object["cold"] as? [String: Any])
        #expect((cold["ratioP50"] as? Double).map { abs($0 - 190.0 / 180.0) < 1e-9 } == true)
        #expect((cold["callsRatioP50"] as? Double).map { abs($0 - 184.5 / 180.0) < 1e-9 } == true)
        let daemon = try #require(cold["daemon"] as? [String: Any])
        #expect(Set(daemon.keys) == ["count", "p50", "p99", "min", "max", "mean"])
        let throughput = try #require(object["throughput"] as? [String: Any])
        #expect(throughput["ratio"] is Double)
        #expect(throughput["rawBytesPerSecond"] as? Double == Double(256 << 20) / 10)
        let echo = try #require(object["echo"] as? [String: Any])
        #expect(echo["addedP50"] as? Double == 80)
        #expect((echo["cpu"] as? [String: Any])?["daemonMicroseconds"] as? Double == 60)
        #expect((echo["rawCPU"] as? [String: Any])?["clientMicroseconds"] as? Double == 30)
        #expect(echo["relayAddedP50"] as? Double == 40)
        #expect(report.table().contains("echo CPU (socat itself): 55 us per round trip"))
        #expect(report.table().contains("echo CPU (bare relay): client CPU 31 us, rest of the machine 90 us per round trip"))
        #expect(report.table().contains("echo CPU (daemon): daemon CPU 60 us, client CPU 40 us, 2 daemon thread wake-ups per round trip"))
        #expect((object["quietPenalty"] as? [String: Any])?["ratio"] as? Double == 3)
        #expect(report.table().contains("machine: a walk over 4096 KiB costs 50 us of CPU back to back, 150 us after"))
        let idle = try #require(object["idle"] as? [String: Any])
        #expect(idle["perSessionBytes"] as? Double == 220_000)
        let warm = try #require(object["warm"] as? [[String: Any]])
        #expect(warm.map { $0["burst"] as? Int } == [1, 32])
        let verdicts = try #require(object["verdicts"] as? [[String: Any]])
        #expect(verdicts.allSatisfy { ["pass", "fail"].contains($0["status"] as? String) })
        #expect(try BenchReport.decode(data) == report)
    }

    @Test func theQuietPenaltyTimesRealWork() async throws {
        var waits = 0
        let penalty = await BenchReport.QuietPenalty.measure(bytes: 1 << 20, rounds: 3) { waits += 1 }
        #expect(waits == 3)
        #expect(penalty.rounds == 3 && penalty.bytes == 1 << 20)
        // 16,384 cache lines read and written: never free, never seconds.
        #expect(penalty.backToBackMicroseconds > 0 && penalty.backToBackMicroseconds < 1_000_000)
        #expect(penalty.afterQuietMicroseconds > 0 && penalty.afterQuietMicroseconds < 1_000_000)
    }

    @Test func mergingKeepsBothRunsAndRecomputesVerdicts() throws {
        var host = Self.sampleReport()
        host.warm = nil
        host.verdicts = Targets().evaluate(host)
        var pooled = BenchReport()
        pooled.warm = [.init(burst: 8, rounds: 4, coldFallbacks: 0, launch: Self.summary(p50: 12_000, p99: 30_000))]
        let merged = host.merged(with: pooled)
        #expect(merged.cold == host.cold)
        #expect(merged.warm?.first?.burst == 8)
        #expect(merged.verdicts.contains { $0.target == "warm.burst8.p50" && $0.status == .pass })
        #expect(merged.verdicts.contains { $0.target == "cold.ratio" })
        #expect(merged.table().contains("warm launch, burst 8"))
        #expect(merged.table().contains("FAIL"))
    }
}
