import DockerEngine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import SandboxPolicy
import SessionStore
import Sessions

/// `/v1/admin`: what an operator does beside sessions (permission `admin`).
struct AdminController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.post("admin/gc", use: collectGarbage)
        group.get("admin/backup", use: backup)
    }

    struct GarbageReport: Codable {
        struct Container: Codable {
            var id: String
            var name: String
            var session: String?
            var state: String
        }
        var dryRun: Bool
        var orphans: [Container]
        var removed: [String]
        var otherInstances: Int
    }

    /// `POST /v1/admin/gc[?dryRun=true]`: this daemon's containers that no session wants (no row
    /// in a live or exited state), removed unless a dry run. Removal goes through the session
    /// manager's reconciliation, which leaves launches in flight alone. Other daemons'
    /// containers are counted, never touched.
    @Sendable func collectGarbage(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.admin)
        let dryRunText = request.uri.queryParameters["dryRun"].map(String.init)
        guard dryRunText == nil || dryRunText == "true" || dryRunText == "false" else {
            throw APIError.invalid("dryRun must be true or false")
        }
        let dryRun = dryRunText == "true"
        var filters = DockerFilters()
        filters.label(SandcastleLabels.managed, "true")
        let containers = try await dependencies.engine.listContainers(all: true, filters: filters)
        let instance = dependencies.store.configuration.daemonInstance
        let own = containers.filter { $0.labels?[SandcastleLabels.instance] == instance }
        let wanted = Set(try await dependencies.store.sessions(inStates: SessionState.live.union([.exited])).map(\.id))
        let orphans = own.filter { container in
            guard let session = container.labels?[SandcastleLabels.session] else { return true }
            return !wanted.contains(session)
        }
        var removed: [String] = []
        if !dryRun, !orphans.isEmpty {
            let orphanIDs = Set(orphans.map(\.id))
            removed = try await dependencies.manager.reconcile(startup: false).removedOrphans.filter(orphanIDs.contains)
        }
        let report = GarbageReport(
            dryRun: dryRun,
            orphans: orphans.map {
                .init(
                    id: $0.id, name: $0.names.first.map { String($0.drop(while: { $0 == "/" })) } ?? "",
                    session: $0.labels?[SandcastleLabels.session], state: $0.state)
            },
            removed: removed, otherInstances: containers.count - own.count)
        return try json(report, context: context)
    }

    /// `GET /v1/admin/backup`: an online backup of the SQLite database (SQLite's backup API: a
    /// consistent snapshot while the daemon keeps writing), as the response body. The snapshot
    /// is made in the state directory, read into memory off the cooperative pool, and deleted.
    @Sendable func backup(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.admin)
        let path = dependencies.store.configuration.directory + "/backup-\(SessionID.generate().prefix(12)).db"
        defer { unlink(path) }
        try await dependencies.store.backup(to: path)
        let data = try await NIOThreadPool.singleton.runIfActive { try Data(contentsOf: URL(fileURLWithPath: path)) }
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.sqlite3", .contentDisposition: #"attachment; filename="sessions.sqlite""#],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
