import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// Every connection of the API's listener. Each gets a ``HeaderTimeoutHandler``, a
/// ``WebSocketMaskGuard`` and a ``FirstRequestRouter`` first; the router hands a terminal upgrade
/// to ``TerminalRoute`` and everything else to Hummingbird's HTTP/1 + WebSocket channel.
struct APIChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        /// Known once the first request's head is read.
        let route: EventLoopFuture<Route>
    }

    enum Route: Sendable {
        case hummingbird(HTTP1WebSocketUpgradeChannel.Value)
        /// True once upgraded; false when refused (answered, and closed).
        case terminal(upgraded: Bool)
    }

    let hummingbird: HTTP1WebSocketUpgradeChannel
    let terminal: TerminalRoute
    let headerTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let route = channel.eventLoop.makePromise(of: Route.self)
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(HeaderTimeoutHandler(timeout: headerTimeout))
            try operations.addHandler(WebSocketMaskGuard())
            try operations.addHandler(
                FirstRequestRouter(route: route) { channel, terminalUpgrade in
                    if terminalUpgrade {
                        return try terminal.configure(channel, logger: logger).map { .terminal(upgraded: $0) }
                    }
                    // Hummingbird adds its handlers before it returns (on the loop, as here), so
                    // the bytes handed on next reach them.
                    return hummingbird.setup(channel: channel, logger: logger).map { .hummingbird($0) }
                })
            return Value(channel: channel, route: route.futureResult)
        }
    }

    func handle(value: Value, logger: Logger) async {
        // A connection that ended before its first request's head has nothing to handle.
        guard let route = try? await value.route.get() else { return }
        switch route {
        case .hummingbird(let inner):
            await hummingbird.handle(value: inner, logger: logger)
        case .terminal(upgraded: true):
            // Counted until it is closed, so that a shutdown waits for its close frame.
            await terminal.connections.serving { try? await value.channel.closeFuture.get() }
        case .terminal(upgraded: false):
            break
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades: the terminal's through ``TerminalRoute``, the others
    /// through `webSocketRouter`; and a header timeout.
    static func sandcastle(
        webSocketRouter: Router<SandcastleRequestContext>, configuration: HTTP1WebSocketUpgradeChannel.Configuration,
        terminal: TerminalRoute, headerTimeout: TimeAmount
    ) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            APIChannel(
                hummingbird: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                terminal: terminal, headerTimeout: headerTimeout)
        }
    }
}
