import AccessControl
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import JSONText
import Logging
import NIOCore
import NIOHTTP1
import SessionStore
import Sessions
import TerminalRelay

/// The subprotocol of the terminal WebSocket (README, "The terminal WebSocket").
let terminalSubprotocol = "sandcastle.tty.v1"

/// The router that decides Hummingbird's WebSocket upgrades: `GET /v1/sessions/{id}/exec`. (The
/// terminal's upgrade is taken before Hummingbird sees it: ``TerminalRoute``.)
///
/// Everything is checked before the upgrade, in `shouldUpgrade`: the attach token, the session,
/// the command. A refused upgrade falls through to the HTTP router, whose route of the same path
/// answers with the precise error.
func buildWebSocketRouter(_ dependencies: APIDependencies) -> Router<SandcastleRequestContext> {
    let router = Router(context: SandcastleRequestContext.self)
    let exec = ExecController(dependencies: dependencies)
    addWebSocketRoute(
        to: router, "v1/sessions/{id}/exec", subprotocol: execSubprotocol, what: "exec",
        connections: dependencies.webSocketConnections,
        authorize: { try exec.authorize($0, context: $1) },
        serve: { try await exec.serve(inbound: $0, outbound: $1, grant: $2, logger: $3.logger) })
    return router
}

/// What the terminal's check reads from a request: Hummingbird's `Request` for a plain GET, NIO's
/// request head for an upgrade.
struct TerminalRequest {
    var uri: URI
    var origin: String?
    var webSocketProtocol: String?
    var authorization: String?
    /// The client's address for the rate limit, as ``SandcastleRequestContext/clientAddress``.
    var clientAddress: String

    init(_ request: Request, context: SandcastleRequestContext) {
        uri = request.uri
        origin = request.headers.value(.origin)
        webSocketProtocol = request.headers.value(.secWebSocketProtocol)
        authorization = request.headers.value(.authorization)
        clientAddress = context.clientAddress
    }

    init(_ head: HTTPRequestHead, channel: any Channel) {
        func value(_ name: String) -> String? {
            let values = head.headers[name]
            return values.isEmpty ? nil : values.joined(separator: ", ")
        }
        uri = URI(head.uri)
        origin = value("Origin")
        webSocketProtocol = value("Sec-WebSocket-Protocol")
        authorization = value("Authorization")
        clientAddress = SandcastleRequestContext.clientAddress(of: channel)
    }
}

struct TerminalController {
    let dependencies: APIDependencies

    struct Grant: Sendable {
        var sessionID: String
        /// Nil until ``TerminalController/withContainer(_:)`` read it from the store.
        var containerID: String?
        var role: AttachRole
        var since: UInt64?
        var replay: ViewerReplay
        var negotiatedSubprotocol: Bool
    }

    /// The HTTP side of the route: a plain GET, which gets the precise error of its check (an
    /// upgrade is taken before Hummingbird, by ``TerminalRoute``).
    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.get("sessions/{id}/tty") { request, context -> Response in
            let grant = try check(TerminalRequest(request, context: context), logger: context.logger)
            if grant.containerID == nil { _ = try await withContainer(grant) }
            throw APIError(.upgradeRequired, "upgrade_required", "this is a WebSocket endpoint: connect with subprotocol \(terminalSubprotocol)")
        }
    }

    /// Checks origin, rate limit, token and query without waiting; throws the API error to answer
    /// with. The grant has the container when the session's terminal is live (every viewer after
    /// the first, and the first of a session the pool launched); else ``withContainer(_:)`` reads
    /// it from the store.
    func check(_ request: TerminalRequest, logger: Logger) throws -> Grant {
        let id = sessionID(inSubresourcePath: request.uri.path)
        try SessionsController.checkID(id)
        if let origin = request.origin, !dependencies.settings.allowedOrigins.contains(origin) {
            dependencies.metrics.rejections("origin")
            throw APIError.forbidden("origin \(origin) is not allowed to open terminals")
        }
        if case .limited(_, let retryAfter) = dependencies.limits.take(apiKeyName: nil, address: request.clientAddress) {
            dependencies.metrics.rejections("rate_limit_address")
            var error = APIError(.tooManyRequests, "rate_limited", "too many requests; retry after \(retryAfter) s")
            error.headers[.retryAfter] = String(retryAfter)
            throw error
        }
        let offered = request.webSocketProtocol.map(offeredSubprotocols(secWebSocketProtocol:)) ?? []
        let token = parseBearerSubprotocol(offered: offered) ?? request.authorization.flatMap(parseBearer(authorizationHeader:))
        guard let token else {
            dependencies.metrics.rejections("attach_token_missing")
            throw APIError(.unauthorized, "unauthenticated", "an attach token is required: subprotocol bearer.<token> or Authorization: Bearer")
        }
        let negotiated = offered.contains { $0 == terminalSubprotocol }
        if !offered.isEmpty, !negotiated {
            throw APIError.invalid("offer the subprotocol \(terminalSubprotocol)")
        }
        let query = request.uri.queryParameters
        var requested: AttachRole?
        if let text = query["role"].map(String.init) {
            guard let role = AttachRole(rawValue: text) else { throw APIError.invalid("role must be rw or ro") }
            requested = role
        }
        let verified: VerifiedAttachToken
        do {
            verified = try dependencies.tokens.current.verify(token: token, session: id, requiredRole: requested)
        } catch {
            // The client learns only that the token was refused; the log says why.
            logger.info("attach token refused", metadata: ["session.id": "\(id)", "reason": "\(error)"])
            dependencies.metrics.rejections("attach_token")
            throw APIError(.unauthorized, "invalid_token", "the attach token is missing, expired, or not for this session")
        }
        var since: UInt64?
        if let text = query["since"].map(String.init) {
            guard let value = UInt64(text) else { throw APIError.invalid("since must be a byte offset (a non-negative integer)") }
            since = value
        }
        var replay = ViewerReplay.screen
        if let text = query["replay"].map(String.init) {
            guard let value = ViewerReplay(rawValue: text) else { throw APIError.invalid("replay must be screen or bytes") }
            replay = value
        }
        // A terminal that has not ended watches a container that runs (the relay's terminal ends
        // with its session): no store read on the way to every terminal.
        return Grant(
            sessionID: id, containerID: dependencies.relay.existingTerminal(session: id)?.containerID,
            role: requested ?? verified.role, since: since, replay: replay, negotiatedSubprotocol: negotiated)
    }

    /// The grant with its session's container, read from the store; 404, or 409 for a session
    /// that is not running.
    func withContainer(_ grant: Grant) async throws -> Grant {
        let session = try await dependencies.manager.session(grant.sessionID)
        guard session.state == .running, let found = session.containerID else {
            throw APIError(.conflict, "conflict", "session \(grant.sessionID) is \(session.state.rawValue); only a running session has a terminal")
        }
        var grant = grant
        grant.containerID = found
        return grant
    }

    /// A control message as JSON text, keys sorted. (Written with `JSONText`: `JSONEncoder` cost a
    /// launch tens of thousands of instructions per message, `JSONSerialization` more; typed values
    /// spare the casts of `Any`.)
    static func control(_ members: KeyValuePairs<String, ControlValue>) -> String {
        var text = JSONText()
        text.beginObject()
        for (key, value) in members.sorted(by: { JSONText.precedes($0.key, $1.key) }) {
            text.key(key)
            switch value {
            case .string(let value): text.string(value)
            case .bool(let value): text.bool(value)
            case .integer(let value): text.integer(value)
            }
        }
        text.endObject()
        return text.text
    }
}

/// One value of a control message.
enum ControlValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral
{
    case string(String)
    case bool(Bool)
    case integer(Int64)

    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(integerLiteral value: Int64) { self = .integer(value) }

    /// Any integer, clamped to `Int64` (a byte offset beyond it is not reached).
    static func number(_ value: some BinaryInteger) -> ControlValue { .integer(Int64(clamping: value)) }
}

/// A client's text frame: `{"type":"resize","cols":120,"rows":40}` or `{"type":"signal","name":"INT"}`.
enum TerminalControl: Equatable {
    case resize(columns: Int, rows: Int)
    case signal(TerminalSignal)
    case invalid(String)

    static func parse(_ text: String) -> TerminalControl {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let type = object["type"] as? String
        else { return .invalid("control messages are JSON objects with a type") }
        switch type {
        case "resize":
            guard let columns = (object["cols"] as? NSNumber)?.doubleValue, let rows = (object["rows"] as? NSNumber)?.doubleValue,
                columns.isFinite, rows.isFinite
            else { return .invalid("resize needs numeric cols and rows") }
            // Absurd sizes are clamped by the relay; here only into Int's range.
            return .resize(columns: Int(max(min(columns, 1e6), -1e6)), rows: Int(max(min(rows, 1e6), -1e6)))
        case "signal":
            guard let name = object["name"] as? String, let signal = TerminalSignal(name: name) else {
                return .invalid("signal name must be one of \(TerminalSignal.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return .signal(signal)
        default:
            return .invalid("unknown control message type \(type)")
        }
    }
}
