import Foundation

extension BenchReport {
    /// What one viewer's terminal connection costs the daemon: a WebSocket to a running session's
    /// terminal on a new TCP connection (the upgrade with its attach token, the `hello`, the
    /// close), as each warm launch's browser opens one. A warm launch's CPU is this and its create;
    /// the section splits the two without counting anything twice.
    public struct TerminalConnections: Sendable, Codable, Equatable {
        public var connections: Int
        /// Daemon CPU per connection, microseconds, and its thread wake-ups per connection.
        public var daemonMicroseconds: Double
        public var daemonWakeups: Double?
        /// Wall time from the connect to the `hello`.
        public var latency: LatencySummary

        func tableLines(_ row: (String, LatencySummary, Double, String) -> Void) -> [String] {
            row("terminal connection to hello", latency, 1000, "ms")
            return [
                String(
                    format: "terminal: daemon CPU per connection (upgrade, hello, close), %d of them: %.0f us, %.1f wake-ups",
                    connections, daemonMicroseconds, daemonWakeups ?? .nan),
            ]
        }
    }
}

extension Benchmark {
    /// `options.terminalConnections` viewers, one after another, each joining the terminal of one
    /// running session (a viewer of its own stays attached throughout, as the launching browser's
    /// would) and leaving once it has the `hello`.
    func terminalConnections() async throws -> BenchReport.TerminalConnections {
        guard let daemonPID = target.pid else {
            throw BenchError.usage("the terminal section measures the daemon's CPU: it needs the daemon's pid")
        }
        let (api, count) = (self.api, options.terminalConnections)
        let (meter, durations) = try await withSession(kind: "terminal", command: BenchOptions.idleCommand) { _, session in
            @Sendable func join() async throws -> Duration {
                let start = ContinuousClock.now
                return try await WebSocketTerminal.with(
                    host: api.host, port: api.port, session: session.id, token: session.token
                ) { viewer in
                    _ = try await viewer.hello()
                    return ContinuousClock.now - start
                }
            }
            for _ in 0..<min(20, count) { _ = try await join() }
            var meter = CPUMeter(daemonPID: daemonPID)
            var durations: [Duration] = []
            try await meter.measure(count: count) {
                for _ in 0..<count { durations.append(try await join()) }
            }
            return (meter, durations)
        }
        return .init(
            connections: count, daemonMicroseconds: meter.daemonMicroseconds / Double(count),
            daemonWakeups: meter.perOperation?.daemonWakeups, latency: try summary(durations, "terminal connection"))
    }
}
