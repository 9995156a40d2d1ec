import HTTPTypes
import Hummingbird
import NIOCore
import Sessions

/// `/healthz`, `/readyz`, `/metrics` and `/v1/openapi.json`: no API key needed.
struct SystemController {
    let dependencies: APIDependencies

    func addRoutes(to router: Router<SandcastleRequestContext>) {
        router.get("healthz") { _, context in try json(["status": "ok"], context: context) }
        router.get("readyz", use: ready)
        router.get("metrics", use: metrics)
        router.get("v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        bytes: OpenAPIDocument.served(profiles: Array(dependencies.manager.policies.current.profiles.keys)))))
        }
    }

    /// Ready when the engine answers and the store can write.
    @Sendable func ready(request: Request, context: SandcastleRequestContext) async throws -> Response {
        async let engine = problem { try await dependencies.manager.checkEngine() }
        async let store = problem { try await dependencies.manager.checkStore() }
        let health = (engine: await engine, store: await store)
        let ready = health.engine == nil && health.store == nil
        var checks = ["engine": health.engine ?? "ok", "store": health.store ?? "ok"]
        checks["status"] = ready ? "ready" : "not ready"
        return try json(checks, status: ready ? .ok : .serviceUnavailable, context: context)
    }

    /// nil when `check` passes, else its error.
    private func problem(_ check: () async throws -> Void) async -> String? {
        do {
            try await check()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Sendable func metrics(request: Request, context: SandcastleRequestContext) async throws -> Response {
        await dependencies.metrics.refreshSessionGauges(manager: dependencies.manager)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: dependencies.metrics.emit())))
    }
}

/// The OpenAPI 3.1 document of this API (`openapi.json` beside this file), compiled into the
/// binary.
enum OpenAPIDocument {
    static let bytes: [UInt8] = PackageResources.openapi_json
}
