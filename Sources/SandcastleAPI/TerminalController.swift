import AccessControl
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import JSONText
import Logging
import NIOCore
import SessionStore
import Sessions
import TerminalRelay

/// The subprotocol of the terminal WebSocket (README, "The terminal WebSocket").
let terminalSubprotocol = "sandcastle.tty.v1"

/// The router that decides WebSocket upgrades:
/// `GET /v1/sessions/{id}/tty[?since=OFFSET][&replay=screen|bytes]`.
///
/// Everything is checked before the upgrade, in `shouldUpgrade`: the `Origin` against the
/// allowlist, the attach token (subprotocol `bearer.<token>` or `Authorization: Bearer`), the
/// session. A refused upgrade falls through to the HTTP router, whose route of the same path
/// answers with the precise error (401, 403, 404, 409).
func buildWebSocketRouter(_ dependencies: APIDependencies) -> Router<SandcastleRequestContext> {
    let router = Router(context: SandcastleRequestContext.self)
    let terminal = TerminalController(dependencies: dependencies)
    addWebSocketRoute(
        to: router, "v1/sessions/{id}/tty", subprotocol: terminalSubprotocol, what: "terminal",
        connections: dependencies.webSocketConnections,
        authorize: { try await terminal.authorize($0, context: $1) },
        serve: { inbound, outbound, grant, context in
            guard let channel = context.channel else { return }
            try await terminal.serve(inbound: inbound, outbound: outbound, grant: grant, channel: channel, logger: context.logger)
        })
    let exec = ExecController(dependencies: dependencies)
    addWebSocketRoute(
        to: router, "v1/sessions/{id}/exec", subprotocol: execSubprotocol, what: "exec",
        connections: dependencies.webSocketConnections,
        authorize: { try exec.authorize($0, context: $1) },
        serve: { try await exec.serve(inbound: $0, outbound: $1, grant: $2, logger: $3.logger) })
    return router
}

struct TerminalController {
    let dependencies: APIDependencies

    struct Grant: WebSocketGrant {
        var sessionID: String
        var containerID: String
        var role: AttachRole
        var since: UInt64?
        var replay: ViewerReplay
        var negotiatedSubprotocol: Bool
    }

    /// The HTTP side of the route: reached when an upgrade was refused, or never asked for.
    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.get("sessions/{id}/tty") { request, context -> Response in
            _ = try await authorize(request, context: context)
            throw APIError(.upgradeRequired, "upgrade_required", "this is a WebSocket endpoint: connect with subprotocol \(terminalSubprotocol)")
        }
    }

    /// Checks origin, token and session; throws the API error to answer with.
    func authorize(_ request: Request, context: SandcastleRequestContext) async throws -> Grant {
        let id = sessionID(inSubresourcePath: request.uri.path)
        try SessionsController.checkID(id)
        if let origin = request.headers.value(.origin), !dependencies.settings.allowedOrigins.contains(origin) {
            dependencies.metrics.rejections("origin")
            throw APIError.forbidden("origin \(origin) is not allowed to open terminals")
        }
        if case .limited(_, let retryAfter) = dependencies.limits.take(apiKeyName: nil, address: context.clientAddress) {
            dependencies.metrics.rejections("rate_limit_address")
            var error = APIError(.tooManyRequests, "rate_limited", "too many requests; retry after \(retryAfter) s")
            error.headers[.retryAfter] = String(retryAfter)
            throw error
        }
        let offered = request.headers.value(.secWebSocketProtocol).map(offeredSubprotocols(secWebSocketProtocol:)) ?? []
        let token = parseBearerSubprotocol(offered: offered)
            ?? request.headers.value(.authorization).flatMap(parseBearer(authorizationHeader:))
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
            context.logger.info("attach token refused", metadata: ["session.id": "\(id)", "reason": "\(error)"])
            dependencies.metrics.rejections("attach_token")
            throw APIError(.unauthorized, "invalid_token", "the attach token is missing, expired, or not for this session")
        }
        let containerID: String
        if let live = dependencies.relay.existingTerminal(session: id) {
            // A terminal that has not ended watches a container that runs (the relay's terminal
            // ends with its session): no store read on the way to every terminal.
            containerID = live.containerID
        } else {
            let session = try await dependencies.manager.session(id)
            guard session.state == .running, let found = session.containerID else {
                throw APIError(.conflict, "conflict", "session \(id) is \(session.state.rawValue); only a running session has a terminal")
            }
            containerID = found
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
        return Grant(
            sessionID: id, containerID: containerID, role: requested ?? verified.role, since: since, replay: replay,
            negotiatedSubprotocol: negotiated)
    }

    /// Relays one viewer until either side ends. The byte path (output, and input in whole binary
    /// frames) runs in a ``TerminalViewerHandler`` on the connection's event loop; this task waits
    /// for the viewer's end to close the WebSocket with its code, and handles what swift-websocket
    /// assembles (control messages, fragmented input). The relay never waits for this viewer; if it
    /// falls behind, its backlog is replaced by a reset and a repaint, and only if it does not take
    /// even that in time it is closed (1008).
    ///
    /// - Throws: what reading the client's frames threw: swift-websocket's close errors (a message
    ///   over the size limit, invalid UTF-8 in a text message, a frame out of sequence), from which
    ///   the WebSocket handler sends the close code the client must see (1009, 1007, 1002)
    ///   instead of a normal closure.
    func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, grant: Grant, channel: any Channel,
        logger: Logger
    ) async throws {
        let terminal: SessionTerminal
        do {
            terminal = try dependencies.relay.terminal(session: grant.sessionID, containerID: grant.containerID)
        } catch {
            try? await outbound.close(.goingAway, reason: "the daemon is shutting down")
            return
        }
        let sessionID = grant.sessionID
        let (viewer, ended, handled) = try await TerminalViewerHandler.install(
            on: channel, terminal: terminal, role: grant.role == .readWrite ? .readWrite : .readOnly, since: grant.since,
            replay: grant.replay, session: sessionID, roleName: grant.role.rawValue)
        defer { viewer.detach() }
        let maxFrame = dependencies.settings.maxFrameBytes
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                switch try await ended.get() {
                case .exit:
                    try? await outbound.close(.normalClosure, reason: "session ended")
                case .closed(.overflow):
                    try? await outbound.close(.policyViolation, reason: "viewer too slow: output overflowed its queue")
                case .closed(.shutdown):
                    try? await outbound.close(.goingAway, reason: "the daemon is shutting down")
                case .closed(.detached), .disconnected:
                    break
                }
            }
            group.addTask {
                do {
                    try await Self.forwardInput(
                        from: inbound, to: viewer, outbound: outbound, maxFrame: maxFrame, handled: handled)
                } catch is CancellationError {
                } catch {
                    logger.info("terminal input refused", metadata: ["session.id": "\(sessionID)", "error": "\(error)"])
                    throw error
                }
            }
            // Whichever side ends first ends the connection (its error, if any, is what the
            // client's close code reports). Detaching ends the other: the handler's end follows.
            defer {
                viewer.detach()
                group.cancelAll()
            }
            try await group.next()
        }
    }

    /// The messages the handler passed on, in order; `handled` tells it each one is done (until
    /// then, later input waits behind it: typed keys after a resize see the new size).
    static func forwardInput(
        from inbound: WebSocketInboundStream, to viewer: TerminalViewer, outbound: WebSocketOutboundWriter, maxFrame: Int,
        handled: @escaping @Sendable () -> Void
    ) async throws {
        for try await message in inbound.messages(maxSize: maxFrame) {
            defer { handled() }
            switch message {
            case .binary(let bytes):
                await viewer.write(bytes)
            case .text(let text):
                switch TerminalControl.parse(text) {
                case .resize(let columns, let rows):
                    await viewer.resize(columns: columns, rows: rows)
                case .signal(let signal):
                    await viewer.signal(signal)
                case .invalid(let why):
                    try await outbound.write(.text(control(["type": "error", "message": .string(why)])))
                }
            }
        }
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
