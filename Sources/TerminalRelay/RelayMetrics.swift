import Synchronization

/// Where the relay reports its counters. The daemon bridges it to swift-metrics (this library does
/// not depend on it); ``RelayCounters`` keeps them in memory.
///
/// Calls come from the output pump and from viewers' tasks, concurrently and often (once per chunk):
/// an implementation must be cheap and thread-safe, and must not block.
public protocol RelayMetrics: Sendable {
    /// Bytes the containers produced, read from the engine.
    func engineBytesReceived(_ bytes: Int)
    /// Output bytes handed to viewers (when the WebSocket layer takes them).
    func viewerBytesDelivered(_ bytes: Int)
    /// Input bytes from read-write viewers written to containers (control characters included).
    func inputBytesForwarded(_ bytes: Int)
    /// Attached viewers went up (+1) or down (-1): a gauge.
    func viewersChanged(by delta: Int)
    /// A viewer was closed because its queue overflowed.
    func viewerOverflowed()
    /// Input from a read-only viewer was dropped: `bytes` of data, or 0 for a resize or a signal.
    func readOnlyInputDropped(bytes: Int)
    /// An attach stream ended while its container still ran; the terminal attaches again.
    func reattached()
}

/// Metrics that go nowhere.
public struct NoRelayMetrics: RelayMetrics {
    public init() {}
    public func engineBytesReceived(_ bytes: Int) {}
    public func viewerBytesDelivered(_ bytes: Int) {}
    public func inputBytesForwarded(_ bytes: Int) {}
    public func viewersChanged(by delta: Int) {}
    public func viewerOverflowed() {}
    public func readOnlyInputDropped(bytes: Int) {}
    public func reattached() {}
}

/// Metrics kept in memory with atomics: for tests, and as a model for the daemon's bridge.
public final class RelayCounters: RelayMetrics {
    /// The counters at one moment.
    public struct Snapshot: Sendable, Equatable {
        public var engineBytes: Int
        public var viewerBytes: Int
        public var inputBytes: Int
        public var viewers: Int
        public var overflows: Int
        /// Read-only inputs dropped (each write, resize or signal counts once).
        public var readOnlyDrops: Int
        public var readOnlyDroppedBytes: Int
        public var reattaches: Int
    }

    private let engineBytes = Atomic<Int>(0)
    private let viewerBytes = Atomic<Int>(0)
    private let inputBytes = Atomic<Int>(0)
    private let viewers = Atomic<Int>(0)
    private let overflows = Atomic<Int>(0)
    private let readOnlyDrops = Atomic<Int>(0)
    private let readOnlyDroppedBytes = Atomic<Int>(0)
    private let reattaches = Atomic<Int>(0)

    public init() {}

    public var snapshot: Snapshot {
        Snapshot(
            engineBytes: engineBytes.load(ordering: .relaxed), viewerBytes: viewerBytes.load(ordering: .relaxed),
            inputBytes: inputBytes.load(ordering: .relaxed), viewers: viewers.load(ordering: .relaxed),
            overflows: overflows.load(ordering: .relaxed), readOnlyDrops: readOnlyDrops.load(ordering: .relaxed),
            readOnlyDroppedBytes: readOnlyDroppedBytes.load(ordering: .relaxed),
            reattaches: reattaches.load(ordering: .relaxed))
    }

    public func engineBytesReceived(_ bytes: Int) { engineBytes.add(bytes, ordering: .relaxed) }
    public func viewerBytesDelivered(_ bytes: Int) { viewerBytes.add(bytes, ordering: .relaxed) }
    public func inputBytesForwarded(_ bytes: Int) { inputBytes.add(bytes, ordering: .relaxed) }
    public func viewersChanged(by delta: Int) { viewers.add(delta, ordering: .relaxed) }
    public func viewerOverflowed() { overflows.add(1, ordering: .relaxed) }
    public func readOnlyInputDropped(bytes: Int) {
        readOnlyDrops.add(1, ordering: .relaxed)
        readOnlyDroppedBytes.add(bytes, ordering: .relaxed)
    }
    public func reattached() { reattaches.add(1, ordering: .relaxed) }
}
