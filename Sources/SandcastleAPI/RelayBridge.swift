import Prometheus
import SessionStore
import Sessions
import TerminalRelay

/// Connects the terminal relay and the session manager: viewers and input keep a session from
/// being idle, and a session's end reaches its viewers as the `exit` frame with its reason.
public struct RelayBridge: TerminalRelayDelegate {
    let manager: SessionManager

    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func terminalActivity(session: String) async { await manager.noteActivity(session) }
    public func viewerAttached(session: String, role: ViewerRole) async { await manager.viewerAttached(session) }
    public func viewerDetached(session: String, role: ViewerRole) async { await manager.viewerDetached(session) }

    /// Sends every session's end to its terminal, if it has one.
    public static func connect(manager: SessionManager, relay: TerminalRelay) async {
        await manager.observeEnds { session in
            relay.finish(session: session.id, code: session.exitCode ?? -1, reason: exitFrameReason(session.exitReason))
        }
        // A session that starts attached (a warm-pool claim, or a container attached before it
        // started): that stream is its terminal's first attachment, so nothing it prints is missed.
        await manager.observeAttachments { session, stream in
            _ = try? await relay.terminal(session: session.id, containerID: session.containerID ?? "", openStream: stream)
        }
    }

    /// The protocol's reasons (`exited|oom|killed|timeout|removed`) from the store's finer ones.
    static func exitFrameReason(_ reason: ExitReason?) -> String {
        switch reason {
        case .oom: "oom"
        case .ttl, .idle: "timeout"
        case .removed: "removed"
        case .killed, .stopped, .lost, .engineRestart: "killed"
        default: "exited"
        }
    }
}

/// The relay's counters in the daemon's Prometheus registry.
public struct PrometheusRelayMetrics: RelayMetrics {
    let engineBytes: Counter
    let viewerBytes: Counter
    let inputBytes: Counter
    let viewers: Gauge
    let overflows: Counter
    let droppedInput: Counter
    let reattaches: Counter

    public init(registry: PrometheusCollectorRegistry) {
        engineBytes = registry.makeCounter(name: "sandcastle_relay_engine_bytes_total")
        viewerBytes = registry.makeCounter(name: "sandcastle_relay_viewer_bytes_total")
        inputBytes = registry.makeCounter(name: "sandcastle_relay_input_bytes_total")
        viewers = registry.makeGauge(name: "sandcastle_relay_viewers")
        overflows = registry.makeCounter(name: "sandcastle_relay_viewer_overflows_total")
        droppedInput = registry.makeCounter(name: "sandcastle_relay_readonly_input_dropped_bytes_total")
        reattaches = registry.makeCounter(name: "sandcastle_relay_reattaches_total")
    }

    public func engineBytesReceived(_ bytes: Int) { engineBytes.increment(by: Int64(bytes)) }
    public func viewerBytesDelivered(_ bytes: Int) { viewerBytes.increment(by: Int64(bytes)) }
    public func inputBytesForwarded(_ bytes: Int) { inputBytes.increment(by: Int64(bytes)) }
    public func viewersChanged(by delta: Int) { viewers.increment(by: Double(delta)) }
    public func viewerOverflowed() { overflows.increment() }
    public func readOnlyInputDropped(bytes: Int) { droppedInput.increment(by: Int64(bytes)) }
    public func reattached() { reattaches.increment() }
}
