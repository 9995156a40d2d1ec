import Foundation
import SandcastleClient

/// The few calls of the daemon's control API the benchmark makes, over its TCP listener, through
/// `SandcastleClient`'s transport, one connection per request. A launch creates its session and
/// its attach token in one request.
public struct DaemonAPI: Sendable {
    public let host: String
    public let port: Int
    public let apiKey: String

    public init(host: String, port: Int, apiKey: String) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
    }

    /// The typed client of this daemon, with the API key or without it.
    public func client(authenticated: Bool = true) -> SandcastleClient {
        SandcastleClient(address: .tcp(host: host, port: port), apiKey: authenticated ? apiKey : nil)
    }

    /// A response: status and body.
    public struct Response: Sendable {
        public var status: Int
        public var body: Data

        /// The body as a JSON object; nil when it is not one.
        public var object: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// `POST /v1/sessions`; returns the session's id.
    public func createSession(
        id: String, image: String, profile: String, workspace: String, command: [String]
    ) async throws -> String {
        let request = Self.creation(id: id, image: image, profile: profile, workspace: workspace, command: command)
        return try Self.createdID(try await expect([200, 201], "POST", "/v1/sessions", json: request))
    }

    /// `POST /v1/sessions/{id}/attach-tokens` for a read-write viewer.
    public func mintToken(session: String, ttlSeconds: Int = 120) async throws -> String {
        let response = try await expect(
            [200, 201], "POST", "/v1/sessions/\(session)/attach-tokens", json: ["role": "rw", "ttlSeconds": ttlSeconds])
        guard let token = response.object?["token"] as? String else {
            throw BenchError.daemon("attach-tokens answered without a token: \(response.text.prefix(300))")
        }
        return token
    }

    /// Creates a session and mints its read-write attach token in the same request
    /// (`"attachToken": "rw"`), as a web tier that opens the terminal next would; returns the
    /// session's id and the token. With `connection`, the request goes on that kept-alive
    /// connection (as from a web tier's pool of connections), else on a new one.
    public func createSessionAndToken(
        id: String, image: String, profile: String, workspace: String, command: [String],
        on connection: SandcastleClient.Connection? = nil
    ) async throws -> (id: String, token: String) {
        var request = Self.creation(id: id, image: image, profile: profile, workspace: workspace, command: command)
        request["attachToken"] = "rw"
        let response = try await expect([200, 201], "POST", "/v1/sessions", json: request, on: connection)
        guard let token = (response.object?["attachToken"] as? [String: Any])?["token"] as? String else {
            throw BenchError.daemon("POST /v1/sessions answered without the attach token it asked for: \(response.text.prefix(300))")
        }
        return (try Self.createdID(response), token)
    }

    private static func creation(id: String, image: String, profile: String, workspace: String, command: [String]) -> [String: Any] {
        ["id": id, "image": image, "profile": profile, "workspace": workspace, "command": command]
    }

    private static func createdID(_ response: Response) throws -> String {
        guard let created = response.object?["id"] as? String else {
            throw BenchError.daemon("POST /v1/sessions answered without an id: \(response.text.prefix(300))")
        }
        return created
    }

    /// `DELETE /v1/sessions/{id}?workspace=delete`: stops and removes the container and the
    /// workspace. A session already gone counts as removed.
    public func removeSession(_ id: String) async throws {
        _ = try await expect([200, 202, 204, 404], "DELETE", "/v1/sessions/\(id)?workspace=delete")
    }

    /// Sends a request and checks its status: on `connection`, kept alive, or else on a new
    /// connection (``send(_:_:body:)``).
    @discardableResult
    public func expect(
        _ statuses: Set<Int>, _ method: String, _ path: String, json: [String: Any]? = nil,
        on connection: SandcastleClient.Connection? = nil
    ) async throws -> Response {
        let body = try json.map { try JSONSerialization.data(withJSONObject: $0) }
        let response: Response
        if let connection {
            let answer = try await connection.raw(method, path, body: body.map { Array($0) })
            response = Response(status: answer.status, body: Data(answer.body))
        } else {
            response = try await send(method, path, body: body)
        }
        guard statuses.contains(response.status) else {
            throw BenchError.daemon("\(method) \(path) answered \(response.status): \(response.text.prefix(500))")
        }
        return response
    }

    /// Sends one request on a connection of its own and collects the whole response. A connection
    /// that fails before any answer arrived is tried once more: every call the benchmark makes is
    /// idempotent (sessions are created under a client-supplied id).
    public func send(_ method: String, _ path: String, body: Data? = nil) async throws -> Response {
        do {
            return try await sendOnce(method, path, body: body)
        } catch let first as SandcastleClientError where first.status == nil {
            do {
                return try await sendOnce(method, path, body: body)
            } catch {
                throw BenchError.daemon("\(method) \(path) failed twice: \(error) (first: \(first))")
            }
        }
    }

    private func sendOnce(_ method: String, _ path: String, body: Data?) async throws -> Response {
        let client = client()
        let answer = try await client.raw(method, path, body: body.map { Array($0) })
        return Response(status: answer.status, body: Data(answer.body))
    }
}
