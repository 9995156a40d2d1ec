import Hummingbird
import NIOCore
import Sessions

/// `/v1/admin`: what an operator does beside sessions (permission `admin`).
struct AdminController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.post("admin/gc", use: collectGarbage)
        group.get("admin/backup", use: backup)
    }

    /// `POST /v1/admin/gc[?dryRun=true]`: this daemon's containers that no session wants,
    /// removed unless a dry run (``SessionManager/collectGarbage(dryRun:)``).
    @Sendable func collectGarbage(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.admin)
        let dryRunText = request.uri.queryParameters["dryRun"].map(String.init)
        guard dryRunText == nil || dryRunText == "true" || dryRunText == "false" else {
            throw APIError.invalid("dryRun must be true or false")
        }
        let report = try await dependencies.manager.collectGarbage(dryRun: dryRunText == "true")
        return try json(report, context: context)
    }

    /// `GET /v1/admin/backup`: an online backup of the SQLite database (SQLite's backup API: a
    /// consistent snapshot while the daemon keeps writing), as the response body.
    @Sendable func backup(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.admin)
        let data = try await dependencies.manager.backup()
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.sqlite3", .contentDisposition: #"attachment; filename="sessions.sqlite""#],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
