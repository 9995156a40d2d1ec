import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging

/// What a WebSocket route's check grants a connection.
protocol WebSocketGrant: Sendable {
    /// Whether the client offered the route's subprotocol (echoed back when it did).
    var negotiatedSubprotocol: Bool { get }
}

/// Adds a WebSocket route to the upgrade router. `authorize` runs once, before the upgrade; a
/// refusal does not upgrade, so the request falls through to the HTTP route of the same path,
/// which answers with the precise error. `serve` runs the upgraded connection with the grant
/// (its context has the connection's channel), counted in `connections` so that a shutdown
/// waits for its close frame.
func addWebSocketRoute<Grant: WebSocketGrant>(
    to router: Router<SandcastleRequestContext>, _ path: RouterPath, subprotocol: String, what: String,
    connections: WebSocketConnections,
    authorize: @escaping @Sendable (Request, SandcastleRequestContext) async throws -> Grant,
    serve: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, Grant, SandcastleRequestContext) async throws -> Void
) {
    router.ws(path) { request, context in
        do {
            let grant = try await authorize(request, context)
            context.upgradeGrant.set(grant)
            var headers = HTTPFields()
            if grant.negotiatedSubprotocol { headers[.secWebSocketProtocol] = subprotocol }
            return .upgrade(headers)
        } catch {
            // Hummingbird answers every refused upgrade with a bare 400; the precise refusal is in
            // the log, and a plain GET of the route answers with it.
            context.logger.info("\(what) upgrade refused", metadata: ["reason": "\(error)"])
            return .dontUpgrade
        }
    } onUpgrade: { inbound, outbound, context in
        guard let grant = context.requestContext.upgradeGrant.take(as: Grant.self) else {
            // Only an upgrade the check granted gets here; this is the guard against a change in
            // how Hummingbird hands the context over.
            try? await outbound.close(.unexpectedServerError, reason: "no grant for this connection")
            return
        }
        try await connections.serving { try await serve(inbound, outbound, grant, context.requestContext) }
    }
}

/// The session id of a WebSocket route's path, `/v1/sessions/{id}/tty` or `.../exec`: its
/// second-to-last segment, empty segments skipped; "" when there is none. Read from the end, by
/// bytes (`split` by `Character` cost 17,000 instructions, by bytes 4,000).
func sessionID(inSubresourcePath path: String) -> String {
    let utf8 = path.utf8
    let slash = UInt8(ascii: "/")
    func segment(before end: String.Index) -> Range<String.Index>? {
        guard let last = utf8[..<end].lastIndex(where: { $0 != slash }) else { return nil }
        let start = utf8[..<last].lastIndex(of: slash).map { utf8.index(after: $0) } ?? utf8.startIndex
        return start..<utf8.index(after: last)
    }
    guard let final = segment(before: utf8.endIndex), let id = segment(before: final.lowerBound) else { return "" }
    return String(path[id])
}
