extension DockerClient {
    /// Maps to `POST /containers/{id}/exec`; returns the exec's id.
    public func createExec(in container: String, config: ExecConfig) async throws -> String {
        let path = self.path("/containers/\(try Self.segment(container, method: "POST", what: "container"))/exec")
        let response = try await send("POST", path, json: config)
        return try Self.decode(ExecCreateResponse.self, response, method: "POST", path: path).id
    }

    /// Maps to `POST /exec/{id}/start` with `Upgrade: tcp`: starts the exec attached.
    public func startExec(_ id: String, tty: Bool) async throws -> HijackedStream {
        let path = self.path("/exec/\(try Self.segment(id, method: "POST", what: "exec"))/start")
        let body = Array(#"{"Detach":false,"Tty":\#(tty)}"#.utf8)
        return try await hijack(path: path, body: body, tty: tty)
    }

    /// Maps to `GET /exec/{id}/json`.
    public func inspectExec(_ id: String) async throws -> ExecInspect {
        try await get(ExecInspect.self, path("/exec/\(try Self.segment(id, method: "GET", what: "exec"))/json"))
    }

    /// Maps to `POST /exec/{id}/resize?h=&w=`.
    public func resizeExecTTY(_ id: String, rows: Int, columns: Int) async throws {
        let path = self.path(
            "/exec/\(try Self.segment(id, method: "POST", what: "exec"))/resize", [("h", "\(rows)"), ("w", "\(columns)")])
        _ = try await send("POST", path)
    }
}
