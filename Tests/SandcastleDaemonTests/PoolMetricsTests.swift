import Prometheus
import Testing

@testable import SandcastleDaemon

@Suite("The pool's metrics in /metrics")
struct PoolMetricsTests {
    private func exposition(_ registry: PrometheusCollectorRegistry) -> String {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func sample(_ name: String, _ labels: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + "{") && $0.contains(labels) }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    @Test func claimsAndSlotsAreCountedPerProfile() {
        let registry = PrometheusCollectorRegistry()
        let metrics = PrometheusPoolMetrics(registry: registry)
        metrics.claimed(profile: "default", warm: true)
        metrics.claimed(profile: "default", warm: true)
        metrics.claimed(profile: "default", warm: false)
        metrics.claimed(profile: "small", warm: false)
        metrics.slotsChanged(profile: "default", ready: 3, target: 4)
        metrics.slotsChanged(profile: "default", ready: 2, target: 4)

        let text = exposition(registry)
        #expect(text.contains("# HELP sandcastle_pool_claims_total "))
        #expect(sample("sandcastle_pool_claims_total", #"profile="default",result="warm""#, in: text) == 2)
        #expect(sample("sandcastle_pool_claims_total", #"profile="default",result="cold""#, in: text) == 1)
        #expect(sample("sandcastle_pool_claims_total", #"profile="small",result="cold""#, in: text) == 1)
        #expect(sample("sandcastle_pool_ready", #"profile="default""#, in: text) == 2)
        #expect(sample("sandcastle_pool_size", #"profile="default""#, in: text) == 4)
    }
}
