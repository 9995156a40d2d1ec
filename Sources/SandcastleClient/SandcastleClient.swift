import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The typed client of the daemon's control API (Sources/SandcastleAPI/openapi.json). Each method documents
/// the route it maps to.
public struct SandcastleClient: Sendable {
    public let address: DaemonAddress
    let apiKey: String?
    let transport: HTTPTransport

    public init(address: DaemonAddress, apiKey: String?, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.address = address
        self.apiKey = apiKey
        transport = HTTPTransport(address: address, group: group)
    }

    // MARK: Sessions

    /// Every session matching the filters, following the pages. Maps to `GET /v1/sessions`.
    public func sessions(states: [String] = [], label: String? = nil) async throws -> [Session] {
        var all: [Session] = []
        var cursor: String?
        repeat {
            var query: [(String, String)] = [("limit", "1000")]
            if !states.isEmpty { query.append(("state", states.joined(separator: ","))) }
            if let label { query.append(("label", label)) }
            if let cursor { query.append(("cursor", cursor)) }
            let page: SessionPage = try await json(.GET, "/v1/sessions" + Self.query(query))
            all += page.sessions
            cursor = page.next
        } while cursor != nil
        return all
    }

    /// Maps to `GET /v1/sessions/{id}`.
    public func session(_ id: String) async throws -> Session {
        try await json(.GET, "/v1/sessions/\(try Self.pathSegment(id))")
    }

    /// Creates a session from the JSON body of `POST /v1/sessions`; `created` is false when an
    /// idempotent retry returned the existing session.
    public func createSession(body: [UInt8]) async throws -> (session: Session, created: Bool) {
        let response = try await call(.POST, "/v1/sessions", body: body)
        return (try decode(response), response.status == 201)
    }

    /// Maps to `POST /v1/sessions/{id}/stop`.
    public func stop(_ id: String) async throws -> Session {
        try await json(.POST, "/v1/sessions/\(try Self.pathSegment(id))/stop")
    }

    /// Maps to `POST /v1/sessions/{id}/start`.
    public func start(_ id: String) async throws -> Session {
        try await json(.POST, "/v1/sessions/\(try Self.pathSegment(id))/start")
    }

    /// Maps to `DELETE /v1/sessions/{id}[?workspace=delete]`.
    public func remove(_ id: String, deleteWorkspace: Bool) async throws {
        _ = try await call(.DELETE, "/v1/sessions/\(try Self.pathSegment(id))" + (deleteWorkspace ? "?workspace=delete" : ""))
    }

    /// Maps to `POST /v1/sessions/{id}/attach-tokens`.
    public func mintToken(_ id: String, readOnly: Bool, ttlSeconds: Int) async throws -> AttachToken {
        let body = Array(#"{"role":"\#(readOnly ? "ro" : "rw")","ttlSeconds":\#(ttlSeconds)}"#.utf8)
        return try decode(try await call(.POST, "/v1/sessions/\(try Self.pathSegment(id))/attach-tokens", body: body))
    }

    /// The terminal output the engine logged, chunk by chunk. Maps to `GET /v1/sessions/{id}/logs`.
    public func logs(_ id: String, tail: Int?, onChunk: (ByteBuffer) async throws -> Void) async throws {
        try await stream(.GET, "/v1/sessions/\(try Self.pathSegment(id))/logs" + (tail.map { "?tail=\($0)" } ?? ""), onChunk: onChunk)
    }

    /// What the session's terminal shows now, as text. Maps to `GET /v1/sessions/{id}/screen`.
    public func screen(_ id: String) async throws -> Screen {
        try await json(.GET, "/v1/sessions/\(try Self.pathSegment(id))/screen")
    }

    /// The escape sequences that draw the session's screen on a terminal. Maps to
    /// `GET /v1/sessions/{id}/screen?format=ansi`.
    public func screenRepaint(_ id: String) async throws -> [UInt8] {
        try await call(.GET, "/v1/sessions/\(try Self.pathSegment(id))/screen?format=ansi").body
    }

    /// The event log. Without `follow`, what is recorded after `since` (default: from the
    /// start), then it returns; with it, new events as they happen (from now, or after
    /// `since`) until cancelled. Maps to `GET /v1/events`.
    public func events(
        since: Int64?, session: String?, follow: Bool, onEvent: (SessionEvent) async throws -> Void
    ) async throws {
        var query: [(String, String)] = []
        if let since { query.append(("since", String(since))) }
        if let session { query.append(("session", session)) }
        if !follow { query.append(("follow", "false")) }
        var parser = ServerSentEventParser()
        try await stream(.GET, "/v1/events" + Self.query(query)) { chunk in
            for event in parser.feed(chunk) { try await onEvent(event) }
        }
    }

    // MARK: Administration

    /// Finds (and unless `dryRun` removes) this daemon's containers that no session wants.
    /// Maps to `POST /v1/admin/gc[?dryRun=true]`.
    public func collectGarbage(dryRun: Bool) async throws -> GarbageReport {
        try await json(.POST, "/v1/admin/gc" + (dryRun ? "?dryRun=true" : ""))
    }

    /// An online backup of the daemon's SQLite database, streamed. Maps to `GET /v1/admin/backup`.
    public func backup(onChunk: (ByteBuffer) async throws -> Void) async throws {
        try await stream(.GET, "/v1/admin/backup", onChunk: onChunk)
    }

    /// `GET /healthz`: whether the daemon answers (no key needed).
    public func health() async throws -> String {
        let response = try await call(.GET, "/healthz")
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Runs `body` with one connection that its calls share (HTTP/1.1 keep-alive), as a web
    /// tier's connection pool would: a call after the first costs the daemon no accept and no new
    /// connection. The connection closes when `body` returns.
    public func withConnection<T>(_ body: (Connection) async throws -> T) async throws -> T {
        try await transport.withConnection { connection in
            try await body(Connection(connection: connection, authorization: authorization))
        }
    }

    /// Calls on one kept-alive connection; see ``withConnection(_:)``. Not to be kept beyond it.
    public struct Connection {
        let connection: HTTPConnection
        let authorization: [(String, String)]

        /// As ``SandcastleClient/raw(_:_:body:)``, on this connection.
        public func raw(_ method: String, _ path: String, body: [UInt8]? = nil) async throws -> (status: Int, body: [UInt8]) {
            try await SandcastleClient.collecting(method, path, body: body, authorization: authorization) {
                try await connection.exchange($0, keepAlive: true, onHead: $1, onBody: $2)
            }
        }

        /// The daemon closed the connection (or said it would): later calls fail.
        public var isClosed: Bool { connection.isClosed }
    }

    /// Any route, answered whatever its status: for callers that check statuses themselves (the
    /// benchmark's pool and metrics calls). `body`, when given, is sent as JSON.
    public func raw(_ method: String, _ path: String, body: [UInt8]? = nil) async throws -> (status: Int, body: [UInt8]) {
        try await Self.collecting(method, path, body: body, authorization: authorization) {
            try await transport.exchange($0, onHead: $1, onBody: $2)
        }
    }

    /// Sends a request through `exchange` (a `body` as JSON) and collects the whole answer.
    static func collecting(
        _ method: String, _ path: String, body: [UInt8]?, authorization: [(String, String)],
        _ exchange: (HTTPTransport.Request, (Int, HTTPHeaders) async throws -> Void, (ByteBuffer) async throws -> Void) async throws -> Void
    ) async throws -> (status: Int, body: [UInt8]) {
        var status = 0
        var collected: [UInt8] = []
        var headers = authorization
        if body != nil { headers.append(("Content-Type", "application/json")) }
        try await exchange(
            .init(method: HTTPMethod(rawValue: method), path: path, headers: headers, body: body),
            { code, _ in status = code },
            { chunk in collected += chunk.readableBytesView })
        return (status, collected)
    }

    // MARK: Plumbing

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    private var authorization: [(String, String)] {
        apiKey.map { [("Authorization", "Bearer \($0)")] } ?? []
    }

    /// `body` is sent as JSON; `upload`, streamed, as octet-stream.
    func call(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, upload: (@Sendable () async throws -> ByteBuffer?)? = nil
    ) async throws -> Response {
        var response = Response(status: 0, headers: [:], body: [])
        var headers = authorization
        if body != nil { headers.append(("Content-Type", "application/json")) }
        if upload != nil { headers.append(("Content-Type", "application/octet-stream")) }
        try await transport.exchange(
            .init(method: method, path: path, headers: headers, body: body, upload: upload),
            onHead: { status, headers in
                response.status = status
                response.headers = headers
            },
            onBody: { chunk in response.body += chunk.readableBytesView })
        if response.status >= 400 { throw Self.apiError(status: response.status, body: response.body) }
        return response
    }

    /// A streamed response: errors (>= 400) are read whole and thrown; success bodies go to
    /// `onChunk` as they arrive.
    func stream(_ method: HTTPMethod, _ path: String, onChunk: (ByteBuffer) async throws -> Void) async throws {
        var status = 0
        var errorBody: [UInt8] = []
        try await transport.exchange(
            .init(method: method, path: path, headers: authorization),
            onHead: { code, _ in status = code },
            onBody: { chunk in
                if status >= 400 { errorBody += chunk.readableBytesView } else { try await onChunk(chunk) }
            })
        if status >= 400 { throw Self.apiError(status: status, body: errorBody) }
    }

    func json<T: Decodable>(_ method: HTTPMethod, _ path: String) async throws -> T {
        try decode(try await call(method, path))
    }

    func decode<T: Decodable>(_ response: Response) throws -> T {
        do {
            return try JSONDecoder.api().decode(T.self, from: Data(response.body))
        } catch {
            throw SandcastleClientError.protocolViolation("cannot read \(T.self) from: \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
    }

    static func apiError(status: Int, body: [UInt8]) -> SandcastleClientError {
        if let parsed = try? JSONDecoder.api().decode(ErrorBody.self, from: Data(body)) {
            return .api(
                status: status, code: parsed.error.code, message: parsed.error.message,
                problems: (parsed.error.problems ?? []).map { "\($0.field)\($0.value.map { " = \($0)" } ?? ""): \($0.message)" })
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return .api(status: status, code: "http_\(status)", message: text.isEmpty ? "HTTP \(status)" : text, problems: [])
    }

    /// Session ids are `[A-Za-z0-9._-]`: anything else is refused here rather than escaped.
    static func pathSegment(_ id: String) throws -> String {
        guard !id.isEmpty, id.utf8.allSatisfy({ byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }) else {
            throw SandcastleClientError.usage("'\(id)' is not a session id: ids are letters, digits, '.', '_' and '-'")
        }
        return id
    }

    static func query(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+,")
        return "?" + items.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }
}

/// Splits a Server-Sent Events byte stream into events (`id:`, `event:`, `data:`, blank line).
struct ServerSentEventParser {
    private var pending: [UInt8] = []
    private var id: Int64?
    private var type = ""
    private var data = ""

    mutating func feed(_ chunk: ByteBuffer) -> [SessionEvent] {
        pending += chunk.readableBytesView
        var events: [SessionEvent] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty, let id {
                    let session = (try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
                    events.append(
                        SessionEvent(
                            id: id, type: type, session: session?["session"] as? String, time: session?["time"] as? String ?? "",
                            json: data))
                }
                id = nil
                type = ""
                data = ""
            } else if line.hasPrefix(":") {
                continue
            } else if line.hasPrefix("id:") {
                id = Int64(line.dropFirst(3).trimmingCharacters(in: .whitespaces))
            } else if line.hasPrefix("event:") {
                type = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix("data:") {
                data += (data.isEmpty ? "" : "\n") + line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            }
        }
        return events
    }
}
