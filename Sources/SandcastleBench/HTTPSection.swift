import Foundation
import SandcastleClient

extension BenchReport {
    /// What one API request costs the daemon before any work of its own: the HTTP stack (accept,
    /// parse, the handler's task, the response), measured with `GET /healthz` on a new connection
    /// per request, as the bench's launches make them, and on one kept-alive connection, as a web
    /// tier's pool would; and an authenticated `GET` of a session that does not exist (the API
    /// key's check and one store read). A launch makes two requests (the create with its token,
    /// and the terminal's WebSocket upgrade): these are the part of its CPU that no change to the
    /// launch path removes. Beside the CPU, the daemon's thread wake-ups per request.
    public struct HTTPCost: Sendable, Codable, Equatable {
        public var requests: Int
        /// Daemon CPU per request, microseconds.
        public var newConnectionMicroseconds: Double
        public var keptAliveMicroseconds: Double
        public var authenticatedLookupMicroseconds: Double
        /// Daemon thread wake-ups per request, the same three ways; nil in reports from before
        /// they were counted.
        public var newConnectionWakeups: Double?
        public var keptAliveWakeups: Double?
        public var authenticatedLookupWakeups: Double?

        func tableLines() -> [String] {
            var lines = [
                String(
                    format: "http: daemon CPU per request, %d each: new connection %.0f us, kept alive %.0f us, "
                        + "authenticated lookup kept alive %.0f us", requests, newConnectionMicroseconds, keptAliveMicroseconds,
                    authenticatedLookupMicroseconds)
            ]
            if let fresh = newConnectionWakeups, let kept = keptAliveWakeups, let lookup = authenticatedLookupWakeups {
                lines.append(
                    String(
                        format: "http: daemon thread wake-ups per request: new connection %.1f, kept alive %.1f, "
                            + "authenticated lookup kept alive %.1f", fresh, kept, lookup))
            }
            return lines
        }
    }
}

extension Benchmark {
    /// `count` GETs of `path` one after another on one kept-alive connection, each answered `status`.
    static func requests(_ client: SandcastleClient, _ path: String, count: Int, status: Int) async throws {
        try await client.withConnection { connection in
            for _ in 0..<count {
                let answer = try await connection.raw("GET", path)
                guard answer.status == status else {
                    throw BenchError.daemon("GET \(path) kept alive answered \(answer.status); expected \(status)")
                }
            }
        }
    }

    func http() async throws -> BenchReport.HTTPCost {
        guard target.pid != nil else {
            throw BenchError.usage("the http section measures the daemon's CPU: it needs the daemon's pid")
        }
        let count = options.httpRequests
        var fresh = CPUMeter(daemonPID: target.pid)
        try await fresh.measure(count: count) {
            for _ in 0..<count { _ = try await api.expect([200], "GET", "/healthz") }
        }
        var kept = CPUMeter(daemonPID: target.pid)
        try await kept.measure(count: count) {
            try await Self.requests(api.client(authenticated: false), "/healthz", count: count, status: 200)
        }
        var lookup = CPUMeter(daemonPID: target.pid)
        try await lookup.measure(count: count) {
            try await Self.requests(api.client(), "/v1/sessions/bench-\(runID)-missing", count: count, status: 404)
        }
        return .init(
            requests: count, newConnectionMicroseconds: fresh.daemonMicroseconds / Double(count),
            keptAliveMicroseconds: kept.daemonMicroseconds / Double(count),
            authenticatedLookupMicroseconds: lookup.daemonMicroseconds / Double(count),
            newConnectionWakeups: fresh.perOperation?.daemonWakeups, keptAliveWakeups: kept.perOperation?.daemonWakeups,
            authenticatedLookupWakeups: lookup.perOperation?.daemonWakeups)
    }
}
