/// Delays between attempts to attach again: doubling from `initial` up to `maximum`, each drawn
/// from the upper half of its ceiling, so that the terminals of 500 sessions whose engine restarted
/// do not all come back in the same millisecond.
struct ReattachBackoff {
    let initial: Duration
    let maximum: Duration
    private var failures = 0

    init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    mutating func next() -> Duration {
        let ceiling = min(initial * (1 << min(failures, 16)), maximum)
        failures += 1
        return ceiling * Double.random(in: 0.5...1.0)
    }

    mutating func reset() {
        failures = 0
    }
}
