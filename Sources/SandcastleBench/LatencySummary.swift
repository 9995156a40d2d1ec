/// The distribution of a set of measured durations, in microseconds.
///
/// Percentiles are nearest-rank: the p-th percentile of n sorted samples is the sample at rank
/// `ceil(p/100 * n)` (1-based). It is always one of the measured values, never an interpolation,
/// and with few samples p99 is the maximum, which is what a reader of a small run should see.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var min: Double
    public var max: Double
    public var mean: Double

    public init(count: Int, p50: Double, p99: Double, min: Double, max: Double, mean: Double) {
        self.count = count
        self.p50 = p50
        self.p99 = p99
        self.min = min
        self.max = max
        self.mean = mean
    }

    /// The summary of `samples` (microseconds); nil when there are none.
    public init?(microseconds samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        self.init(
            count: sorted.count, p50: Self.percentile(50, ofSorted: sorted), p99: Self.percentile(99, ofSorted: sorted),
            min: sorted[0], max: sorted[sorted.count - 1], mean: sorted.reduce(0, +) / Double(sorted.count))
    }

    /// The summary of `durations`; nil when there are none.
    public init?(_ durations: [Duration]) {
        self.init(microseconds: durations.map(\.microseconds))
    }

    /// The nearest-rank percentile `p` (0 < p <= 100) of ascending `sorted`, which is not empty.
    public static func percentile(_ p: Double, ofSorted sorted: [Double]) -> Double {
        precondition(!sorted.isEmpty, "a percentile of no samples")
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }
}

extension Duration {
    /// This duration in microseconds, with its fraction.
    public var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }
}
