import Synchronization

/// A value the daemon replaces at runtime (on SIGHUP) while requests read it: they use whichever
/// value is current when they arrive. The policies, the API keys and the attach-token keys are
/// each held in one.
public final class Swappable<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    public init(_ value: Value) {
        self.value = Mutex(value)
    }

    public var current: Value { value.withLock { $0 } }

    public func replace(_ newValue: Value) {
        value.withLock { $0 = newValue }
    }
}
