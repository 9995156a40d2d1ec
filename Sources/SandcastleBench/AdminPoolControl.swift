import Foundation

/// ``PoolControl`` over the daemon's admin pool routes: `PUT /v1/pools/{profile}`
/// `{"image","size","refillPerMinute"}` and `GET /v1/pools`; cold fallbacks are read from the
/// `sandcastle_pool_claims_total{result="cold"}` counter of `/metrics`.
public struct AdminPoolControl: PoolControl {
    let api: DaemonAPI
    /// The refill rate asked for: as fast as the engine allows, so rounds do not wait on the rate.
    let refillPerMinute: Int

    public init(api: DaemonAPI, refillPerMinute: Int = 6000) {
        self.api = api
        self.refillPerMinute = refillPerMinute
    }

    public func resize(profile: String, image: String, size: Int) async throws {
        try await api.expect(
            [200], "PUT", "/v1/pools/\(profile)", json: ["image": image, "size": size, "refillPerMinute": refillPerMinute])
    }

    public func waitUntilReady(profile: String, image: String, slots: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let response = try await api.expect([200], "GET", "/v1/pools")
            let pools = response.object?["pools"] as? [[String: Any]] ?? []
            let ready = pools.first { $0["profile"] as? String == profile }?["ready"] as? Int ?? 0
            if ready >= slots { return }
            if ContinuousClock.now > deadline {
                throw BenchError.daemon(
                    "the pool of profile \(profile) had \(ready) of \(slots) slots ready after \(timeout): \(response.text.prefix(300))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    public func coldFallbacks() async throws -> Int? {
        let response = try await api.expect([200], "GET", "/metrics")
        return Self.coldClaims(inMetrics: response.text)
    }

    /// The sum of `sandcastle_pool_claims_total` samples labelled `result="cold"`; nil when the
    /// exposition has none (no claim yet, or a daemon without the counter).
    public static func coldClaims(inMetrics text: String) -> Int? {
        var total: Int?
        for line in text.split(separator: "\n") where line.hasPrefix("sandcastle_pool_claims_total{") && line.contains(#"result="cold""#) {
            guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            total = (total ?? 0) + Int(value)
        }
        return total
    }
}
