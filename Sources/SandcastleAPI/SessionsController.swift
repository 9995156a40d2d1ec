import AccessControl
import DockerEngine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SandboxPolicy
import SessionStore
import Sessions

/// `/v1/sessions`: create, list, inspect, stop, start, remove, attach tokens and logs.
struct SessionsController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.post("sessions", use: create)
        group.get("sessions", use: list)
        group.get("sessions/{id}", use: show)
        group.post("sessions/{id}/stop", use: stop)
        group.post("sessions/{id}/start", use: start)
        group.delete("sessions/{id}", use: remove)
        group.post("sessions/{id}/attach-tokens", use: mintToken)
        group.get("sessions/{id}/logs", use: logs)
    }

    /// `POST /v1/sessions`: idempotent on the optional client-supplied `id`. 201 for a new session,
    /// 200 when the same request returned the existing one. With `"attachToken": "rw"|"ro"` the
    /// answer also carries an attach token for the session's terminal (as
    /// `POST /v1/sessions/{id}/attach-tokens` mints it, for the default 60 s): a web tier opens
    /// the terminal after one request instead of two.
    @Sendable func create(request: Request, context: SandcastleRequestContext) async throws -> Response {
        let principal = try context.require(.sessionCreate)
        let body = try await request.body.collect(upTo: dependencies.settings.maxBodyBytes)
        let decoded: (request: SessionLaunchRequest, extras: [String: String])
        do {
            decoded = try SessionLaunchRequest.decode(
                strictJSON: Data(body.readableBytesView), extraStringKeys: ["id", "attachToken"])
        } catch {
            dependencies.metrics.rejections("invalid_request")
            throw APIError.from(error)
        }
        let id = decoded.extras["id"]
        if let id { try Self.checkID(id) }
        var tokenRole: AttachRole?
        if let text = decoded.extras["attachToken"] {
            guard let role = AttachRole(rawValue: text) else { throw APIError.invalid("attachToken must be \"rw\" or \"ro\"") }
            // Refused before anything is created: the caller must be allowed the token it asks for.
            try context.require(role.mintPermission)
            tokenRole = role
        }
        let started = ContinuousClock.now
        let session: Session
        let created: Bool
        do {
            (session, created) = try await dependencies.manager.create(id: id, request: decoded.request, owner: principal.name)
        } catch let error as SessionManagerError {
            dependencies.metrics.rejections(error.code.rawValue)
            throw error
        }
        if created {
            dependencies.metrics.launches.increment()
            dependencies.metrics.launchDuration.record(ContinuousClock.now - started)
        }
        var representation = SessionRepresentation(session, egress: dependencies.manager.egressStatus(session.id))
        // A session that no longer runs (its command already ended) has no terminal to attach
        // to: its state says so, and no token is minted.
        if let tokenRole, session.state == .running || session.state == .starting {
            representation.attachToken = try mint(session: session.id, role: tokenRole, ttlSeconds: TokenRequest.defaultTTLSeconds)
        }
        return json(representation, status: created ? .created : .ok, context: context)
    }

    /// `GET /v1/sessions?state=&label=&limit=&cursor=`.
    @Sendable func list(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let query = request.uri.queryParameters
        var states: Set<SessionState>?
        if let text = query["state"].map(String.init) {
            var parsed = Set<SessionState>()
            for name in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard let state = SessionState(rawValue: String(name)) else {
                    throw APIError.invalid(
                        "unknown state '\(name)': use \(SessionState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                parsed.insert(state)
            }
            states = parsed
        }
        var label: LabelFilter?
        if let text = query["label"].map(String.init) {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard let key = parts.first, !key.isEmpty else { throw APIError.invalid("label filter must be KEY or KEY=VALUE") }
            label = LabelFilter(key: key, value: parts.count > 1 ? parts[1] : nil)
        }
        var limit = 100
        if let text = query["limit"].map(String.init) {
            guard let value = Int(text), (1...1000).contains(value) else { throw APIError.invalid("limit must be 1 to 1000") }
            limit = value
        }
        var cursor: SessionCursor?
        if let text = query["cursor"].map(String.init) {
            guard text.range(of: #"^[0-9]{1,18}\."#, options: .regularExpression) != nil, let parsed = SessionCursor(token: text) else {
                throw APIError.invalid("cursor is not one this daemon issued")
            }
            cursor = parsed
        }
        let page = try await dependencies.manager.sessions(states: states, label: label, after: cursor, limit: limit)
        return json(SessionList(sessions: page.sessions.map { SessionRepresentation($0, egress: dependencies.manager.egressStatus($0.id)) }, next: page.next?.token), context: context)
    }

    @Sendable func show(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let session = try await dependencies.manager.session(try id(context))
        var representation = SessionRepresentation(session, egress: dependencies.manager.egressStatus(session.id))
        representation.workspaceUsage = await dependencies.manager.workspaceUsage(session.workspace).map(WorkspaceUsageRepresentation.init)
        return json(representation, context: context)
    }

    @Sendable func stop(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionStop)
        return json(SessionRepresentation(try await dependencies.manager.stop(try id(context))), context: context)
    }

    @Sendable func start(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionStart)
        return json(SessionRepresentation(try await dependencies.manager.start(try id(context))), context: context)
    }

    /// `DELETE /v1/sessions/{id}[?workspace=delete]`: 204.
    @Sendable func remove(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionStop)
        let workspace = request.uri.queryParameters["workspace"].map(String.init)
        guard workspace == nil || workspace == "delete" || workspace == "keep" else {
            throw APIError.invalid("workspace must be delete or keep")
        }
        try await dependencies.manager.remove(try id(context), deleteWorkspace: workspace == "delete")
        return Response(status: .noContent)
    }

    /// `POST /v1/sessions/{id}/attach-tokens` `{"role":"rw|ro","ttlSeconds":60}`.
    @Sendable func mintToken(request: Request, context: SandcastleRequestContext) async throws -> Response {
        // Watching (`ro`) is part of viewing a session; typing (`rw`) needs session:attach.
        try context.require(.sessionWatch)
        let id = try id(context)
        let session = try await dependencies.manager.session(id)
        guard session.state == .running || session.state == .starting else {
            throw APIError(.conflict, "conflict", "session \(id) is \(session.state.rawValue); only a running session has a terminal")
        }
        let body = try await request.body.collect(upTo: dependencies.settings.maxBodyBytes)
        let parameters = try TokenRequest.decode(Data(body.readableBytesView))
        try context.require(parameters.role.mintPermission)
        return json(try mint(session: id, role: parameters.role, ttlSeconds: parameters.ttlSeconds), status: .created, context: context)
    }

    private func mint(session id: String, role: AttachRole, ttlSeconds: Int) throws -> AttachTokenRepresentation {
        do {
            let minted = try dependencies.tokens.current.mint(session: id, role: role, ttl: .seconds(ttlSeconds))
            return AttachTokenRepresentation(token: minted.token, expiresAt: minted.expiresAt, role: role.rawValue)
        } catch {
            throw APIError.invalid(error.message)
        }
    }

    /// `GET /v1/sessions/{id}/logs?tail=N`: the container's output as the engine logged it.
    @Sendable func logs(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let id = try id(context)
        var tail: Int?
        if let text = request.uri.queryParameters["tail"].map(String.init) {
            guard let value = Int(text), (0...1_000_000).contains(value) else {
                throw APIError.invalid("tail must be an integer from 0 to 1000000")
            }
            tail = value
        }
        let output = try await dependencies.manager.logs(id, tail: tail)
        return Response(
            status: .ok, headers: [.contentType: "application/octet-stream"],
            body: ResponseBody(asyncSequence: AnyByteSequence(base: output)))
    }

    // MARK: -

    private func id(_ context: SandcastleRequestContext) throws -> String {
        let id = try context.parameters.require("id")
        try Self.checkID(id)
        return id
    }

    static func checkID(_ id: String) throws {
        guard SessionID.isValid(id) else { throw APIError.invalid("session id must be \(SessionID.rule)") }
    }
}

/// The body of `POST /v1/sessions/{id}/attach-tokens`.
struct TokenRequest {
    var role: AttachRole
    var ttlSeconds: Int

    /// A token's lifetime when the request names none.
    static let defaultTTLSeconds = 60

    static func decode(_ data: Data) throws -> TokenRequest {
        if data.isEmpty { return TokenRequest(role: .readWrite, ttlSeconds: defaultTTLSeconds) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw APIError.invalid("the body must be a JSON object: {\"role\":\"rw|ro\",\"ttlSeconds\":60}")
        }
        let unknown = Set(object.keys).subtracting(["role", "ttlSeconds"])
        guard unknown.isEmpty else { throw APIError.invalid("unknown field(s): \(unknown.sorted().joined(separator: ", "))") }
        struct Body: Decodable {
            var role: AttachRole?
            var ttlSeconds: Int?
        }
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: data)
        } catch {
            throw APIError.invalid("role must be \"rw\" or \"ro\" and ttlSeconds a positive integer")
        }
        guard (body.ttlSeconds ?? defaultTTLSeconds) > 0 else { throw APIError.invalid("ttlSeconds must be a positive integer") }
        return TokenRequest(role: body.role ?? .readWrite, ttlSeconds: body.ttlSeconds ?? defaultTTLSeconds)
    }
}

/// A type-erased byte sequence, for `ResponseBody`.
struct AnyByteSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: any AsyncSequence<ByteBuffer, any Error> & Sendable

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: any AsyncIteratorProtocol<ByteBuffer, any Error>
        mutating func next() async throws -> ByteBuffer? { try await base.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator()) }
}

/// The one encoder of JSON responses: sorted keys, dates in ISO 8601. Configured once and then
/// only used, which is safe from any thread; making one per response showed up in profiles.
let responseEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()

/// Encodes `value` as the JSON response.
func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, context: SandcastleRequestContext) throws -> Response {
    jsonResponse(try responseEncoder.encode(value), status: status)
}

/// A response carrying JSON text already written.
func jsonResponse(_ text: some Sequence<UInt8>, status: HTTPResponse.Status) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: text)))
}
