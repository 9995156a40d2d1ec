import AccessControl
import DockerEngine
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging

/// Builds the router every deployment and every test uses: REST, events, health and metrics.
/// The WebSocket upgrades are ``TerminalRoute``'s and ``buildWebSocketRouter(_:)``'s.
public func buildRouter(_ dependencies: APIDependencies) -> Router<SandcastleRequestContext> {
    let router = Router(context: SandcastleRequestContext.self)
    router.addMiddleware {
        ErrorMiddleware()
        MethodNotAllowedMiddleware()
        RequestMetricsMiddleware(metrics: dependencies.metrics)
        BodyLimitMiddleware(maxBytes: dependencies.settings.maxBodyBytes)
    }
    SystemController(dependencies: dependencies).addRoutes(to: router)
    let v1 = router.group("v1")
        .add(middleware: AuthenticationMiddleware(keys: dependencies.keys, limits: dependencies.limits, metrics: dependencies.metrics))
    SessionsController(dependencies: dependencies).addRoutes(to: v1)
    EventsController(dependencies: dependencies).addRoutes(to: v1)
    TerminalController(dependencies: dependencies).addRoutes(to: v1)
    ScreenController(dependencies: dependencies).addRoutes(to: v1)
    ExecController(dependencies: dependencies).addRoutes(to: v1)
    PoolsController(dependencies: dependencies).addRoutes(to: v1)
    WorkspacesController(dependencies: dependencies).addRoutes(to: v1)
    AdminController(dependencies: dependencies).addRoutes(to: v1)
    WorkspaceFilesController(dependencies: dependencies).addRoutes(to: v1)
    return router
}

/// The whole HTTP application on one listener: `address` is a unix socket path or TCP.
public func buildApplication(
    _ dependencies: APIDependencies, address: BindAddress, headerTimeout: Duration = .seconds(10),
    logger: Logger, onServerRunning: @escaping @Sendable () async -> Void = {}
) -> some ApplicationProtocol {
    let router = buildRouter(dependencies)
    // The terminal's WebSockets and the exec's (Hummingbird's) ping and close alike.
    let pingInterval = Duration.seconds(30)
    let closeTimeout = Duration.seconds(5)
    let terminal = TerminalRoute(
        controller: TerminalController(dependencies: dependencies), connections: dependencies.webSocketConnections,
        viewer: .init(maxMessageBytes: dependencies.settings.maxFrameBytes, pingInterval: pingInterval, closeTimeout: closeTimeout))
    return Application(
        router: router,
        server: .sandcastle(
            webSocketRouter: buildWebSocketRouter(dependencies),
            configuration: .init(
                http1: .init(idleTimeout: .seconds(60)),
                ws: .init(
                    maxFrameSize: dependencies.settings.maxFrameBytes, autoPing: .enabled(timePeriod: pingInterval),
                    closeTimeout: closeTimeout, validateUTF8: true)),
            terminal: terminal, headerTimeout: .milliseconds(headerTimeout.milliseconds)),
        configuration: .init(address: address, serverName: "sandcastled"),
        onServerRunning: { _ in await onServerRunning() },
        logger: logger)
}
