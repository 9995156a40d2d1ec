import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging

/// Adds a WebSocket route to the upgrade router. `authorize` runs before the upgrade and returns
/// whether the client offered `subprotocol` (echoed back when it did); a refusal does not upgrade,
/// so the request falls through to the HTTP route of the same path, which answers with the precise
/// error. `serve` runs the upgraded connection (its context has the connection's channel).
func addWebSocketRoute(
    to router: Router<SandcastleRequestContext>, _ path: RouterPath, subprotocol: String, what: String,
    authorize: @escaping @Sendable (Request, SandcastleRequestContext) async throws -> Bool,
    serve: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, Request, SandcastleRequestContext) async throws -> Void
) {
    router.ws(path) { request, context in
        do {
            var headers = HTTPFields()
            if try await authorize(request, context) { headers[.secWebSocketProtocol] = subprotocol }
            return .upgrade(headers)
        } catch {
            // Hummingbird answers every refused upgrade with a bare 400; the precise refusal is in
            // the log, and a plain GET of the route answers with it.
            context.logger.info("\(what) upgrade refused", metadata: ["reason": "\(error)"])
            return .dontUpgrade
        }
    } onUpgrade: { inbound, outbound, context in
        try await serve(inbound, outbound, context.request, context.requestContext)
    }
}
