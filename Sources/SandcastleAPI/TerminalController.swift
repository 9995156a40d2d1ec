import Hummingbird
import HummingbirdWebSocket

/// The router that decides WebSocket upgrades (`GET /v1/sessions/{id}/tty`).
func buildWebSocketRouter(_ dependencies: APIDependencies) -> Router<SandcastleRequestContext> {
    Router(context: SandcastleRequestContext.self)
}
