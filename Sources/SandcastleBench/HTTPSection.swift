import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension BenchReport {
    /// What one API request costs the daemon before any work of its own: the HTTP stack (accept,
    /// parse, the handler's task, the response), measured with `GET /healthz` on a new connection
    /// per request, as the bench's launches make them, and on one kept-alive connection, as a web
    /// tier's pool would; and an authenticated `GET` of a session that does not exist (the API
    /// key's check and one store read). A launch makes three requests (create, token, WebSocket
    /// upgrade): these are the part of its CPU that no change to the launch path removes.
    public struct HTTPCost: Sendable, Codable, Equatable {
        public var requests: Int
        /// Daemon CPU per request, microseconds.
        public var newConnectionMicroseconds: Double
        public var keptAliveMicroseconds: Double
        public var authenticatedLookupMicroseconds: Double

        func tableLines() -> [String] {
            [
                String(
                    format: "http: daemon CPU per request, %d each: new connection %.0f us, kept alive %.0f us, "
                        + "authenticated lookup kept alive %.0f us", requests, newConnectionMicroseconds, keptAliveMicroseconds,
                    authenticatedLookupMicroseconds)
            ]
        }
    }
}

extension Benchmark {
    func http() async throws -> BenchReport.HTTPCost {
        guard target.pid != nil else {
            throw BenchError.usage("the http section measures the daemon's CPU: it needs the daemon's pid")
        }
        let count = options.httpRequests
        var fresh = CPUMeter(daemonPID: target.pid)
        try await fresh.measure(count: count) {
            for _ in 0..<count { _ = try await api.expect([200], "GET", "/healthz") }
        }
        let port = api.port
        let host = api.host
        var kept = CPUMeter(daemonPID: target.pid)
        try await kept.measure(count: count) {
            try await KeptAliveConnection.requests(host: host, port: port, path: "/healthz", headers: [], count: count, status: 200)
        }
        var lookup = CPUMeter(daemonPID: target.pid)
        let authorization = ["Authorization: Bearer \(api.apiKey)"]
        try await lookup.measure(count: count) {
            try await KeptAliveConnection.requests(
                host: host, port: port, path: "/v1/sessions/bench-\(runID)-missing", headers: authorization, count: count, status: 404)
        }
        return .init(
            requests: count, newConnectionMicroseconds: fresh.daemonMicroseconds / Double(count),
            keptAliveMicroseconds: kept.daemonMicroseconds / Double(count),
            authenticatedLookupMicroseconds: lookup.daemonMicroseconds / Double(count))
    }
}

/// HTTP/1.1 requests one after another on one connection, with blocking sockets on a thread of
/// their own (the bench's client transport closes its connection after each request).
enum KeptAliveConnection {
    static func requests(host: String, port: Int, path: String, headers: [String], count: Int, status: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread {
                continuation.resume(with: Result { try run(host: host, port: port, path: path, headers: headers, count: count, status: status) })
            }.start()
        }
    }

    private static func run(host: String, port: Int, path: String, headers: [String], count: Int, status: Int) throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw BenchError.daemon("socket: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw BenchError.usage("\(host) is not an IPv4 address") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw BenchError.daemon("connecting to \(host):\(port): \(String(cString: strerror(errno)))") }
        let request = Array((["GET \(path) HTTP/1.1", "Host: \(host):\(port)"] + headers + ["", ""]).joined(separator: "\r\n").utf8)
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<count {
            var sent = 0
            while sent < request.count {
                let n = request[sent...].withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
                guard n > 0 else { throw BenchError.daemon("writing to \(host):\(port): \(String(cString: strerror(errno)))") }
                sent += n
            }
            // The head, then Content-Length bytes of body.
            var needed: Int?
            while true {
                if needed == nil, let end = headEnd(pending) {
                    let head = String(decoding: pending[..<end], as: UTF8.self)
                    guard head.hasPrefix("HTTP/1.1 \(status) ") else {
                        throw BenchError.daemon("GET \(path) kept alive answered \(head.prefix(80)); expected \(status)")
                    }
                    let length = head.split(separator: "\r\n").lazy.compactMap { line -> Int? in
                        let parts = line.split(separator: ":", maxSplits: 1)
                        guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                        return Int(parts[1].trimmingCharacters(in: .whitespaces))
                    }.first
                    guard let length else { throw BenchError.daemon("GET \(path) kept alive: no Content-Length in \(head.prefix(200))") }
                    needed = end + 4 + length
                }
                if let total = needed, pending.count >= total {
                    pending.removeFirst(total)
                    break
                }
                let n = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
                guard n > 0 else { throw BenchError.daemon("GET \(path) kept alive: the daemon closed the connection") }
                pending += chunk[..<n]
            }
        }
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
