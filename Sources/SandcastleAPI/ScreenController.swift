import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Sessions
import TerminalRelay
import TerminalScreen

/// `GET /v1/sessions/{id}/screen[?format=text|ansi]`: what the session's terminal shows now, like
/// `tmux capture-pane`, without attaching (a web tier's thumbnails of every session).
struct ScreenController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.get("sessions/{id}/screen", use: show)
    }

    /// The JSON body (format `text`).
    struct Representation: Encodable {
        var session: String
        /// `terminal` (the live screen) or `log` (rebuilt from the container's log).
        var source: String
        /// Live screens only: attach with `since` set to this to continue from this screen.
        var offset: UInt64?
        var size: ScreenSize
        var rows: [String]
        var cursor: ScreenSnapshot.Cursor
        var title: String
        var alternateScreen: Bool
        var modes: ScreenModes
    }

    @Sendable func show(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let id = try context.parameters.require("id")
        try SessionsController.checkID(id)
        let format = request.uri.queryParameters["format"].map(String.init) ?? "text"
        guard format == "text" || format == "ansi" else { throw APIError.invalid("format must be text or ansi") }
        let session = try await dependencies.manager.session(id)
        guard session.containerID != nil else {
            throw APIError(.conflict, "conflict", "session \(id) is \(session.state.rawValue) and has no container, hence no screen")
        }
        let manager = dependencies.manager
        // Without a live terminal, the log's last lines: parsing a whole log of a session that
        // printed gigabytes would hold a thread for minutes.
        let captured = try await dependencies.relay.screen(session: id) { try await manager.logs(id, tail: Self.logLines) }
        if format == "ansi" {
            var headers: HTTPFields = [.contentType: "application/octet-stream"]
            if let offset = captured.offset { headers[Self.offsetHeader] = String(offset) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: captured.repaint)))
        }
        let snapshot = captured.snapshot
        return try json(
            Representation(
                session: id, source: captured.source.rawValue, offset: captured.offset, size: snapshot.size,
                rows: snapshot.rows, cursor: snapshot.cursor, title: snapshot.title,
                alternateScreen: snapshot.alternateScreen, modes: snapshot.modes),
            context: context)
    }

    /// The log lines a screen without a live terminal is rebuilt from.
    static let logLines = 5000

    /// With `format=ansi`, the live screen's offset (as `offset` in the JSON).
    static let offsetHeader = HTTPField.Name("Sandcastle-Screen-Offset")!
}
