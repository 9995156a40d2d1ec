import Foundation

extension DockerClient {
    /// Maps to `POST /containers/create?name=`. Throws `conflict` when the name is taken and
    /// `notFound` when the image is missing.
    public func createContainer(name: String?, config: ContainerConfig) async throws -> ContainerCreateResponse {
        let path = self.path("/containers/create", [("name", name)])
        let response = try await send("POST", path, json: config)
        return try Self.decode(ContainerCreateResponse.self, response, method: "POST", path: path)
    }

    /// Maps to `POST /containers/{id}/start`. Starting a running container is not an error.
    public func startContainer(_ id: String) async throws {
        _ = try await send("POST", path("/containers/\(try Self.segment(id, method: "POST", what: "container"))/start"))
    }

    /// Maps to `POST /containers/{id}/stop?t=`: the stop signal, then SIGKILL after `timeout`.
    /// Stopping a stopped container is not an error.
    public func stopContainer(_ id: String, timeout: Duration = .seconds(10)) async throws {
        let seconds = max(0, Int((timeout.milliseconds + 999) / 1000))
        let path = self.path("/containers/\(try Self.segment(id, method: "POST", what: "container"))/stop", [("t", "\(seconds)")])
        _ = try await send("POST", path, timeout: timeout + configuration.requestTimeout)
    }

    /// Maps to `POST /containers/{id}/kill?signal=`. Throws `conflict` when it is not running.
    public func killContainer(_ id: String, signal: String = "SIGKILL") async throws {
        let path = self.path("/containers/\(try Self.segment(id, method: "POST", what: "container"))/kill", [("signal", signal)])
        _ = try await send("POST", path)
    }

    /// Maps to `DELETE /containers/{id}?force=&v=`.
    public func removeContainer(_ id: String, force: Bool = false, removeVolumes: Bool = false) async throws {
        let path = self.path(
            "/containers/\(try Self.segment(id, method: "DELETE", what: "container"))",
            [("force", force ? "1" : "0"), ("v", removeVolumes ? "1" : "0")])
        _ = try await send("DELETE", path)
    }

    /// Maps to `GET /containers/{id}/json`.
    public func inspectContainer(_ id: String) async throws -> ContainerInspect {
        try await get(ContainerInspect.self, path("/containers/\(try Self.segment(id, method: "GET", what: "container"))/json"))
    }

    /// Maps to `GET /containers/json?all=&filters=`.
    public func listContainers(all: Bool = true, filters: DockerFilters = .init()) async throws -> [ContainerSummary] {
        try await get(
            [ContainerSummary].self,
            path("/containers/json", [("all", all ? "1" : "0"), ("filters", filters.values.isEmpty ? nil : filters.json)]))
    }

    /// What ``waitContainer(_:condition:timeout:)`` waits for.
    public enum WaitCondition: String, Sendable {
        case notRunning = "not-running"
        case nextExit = "next-exit"
        case removed
    }

    /// Maps to `POST /containers/{id}/wait?condition=`: returns the exit code once the condition holds.
    public func waitContainer(
        _ id: String, condition: WaitCondition = .notRunning, timeout: Duration = .seconds(3600)
    ) async throws -> ContainerWaitResponse {
        let path = self.path(
            "/containers/\(try Self.segment(id, method: "POST", what: "container"))/wait", [("condition", condition.rawValue)])
        let response = try await send("POST", path, timeout: timeout)
        return try Self.decode(ContainerWaitResponse.self, response, method: "POST", path: path)
    }

    /// Maps to `POST /containers/{id}/resize?h=&w=`: the size of the container's TTY.
    public func resizeContainerTTY(_ id: String, rows: Int, columns: Int) async throws {
        let path = self.path(
            "/containers/\(try Self.segment(id, method: "POST", what: "container"))/resize",
            [("h", "\(rows)"), ("w", "\(columns)")])
        _ = try await send("POST", path)
    }

    /// Maps to `GET /containers/{id}/archive?path=`: a tar archive of `path` inside the container.
    public func getArchive(_ id: String, path containerPath: String) async throws -> [UInt8] {
        let path = self.path(
            "/containers/\(try Self.segment(id, method: "GET", what: "container"))/archive", [("path", containerPath)])
        return try await send("GET", path).body
    }

    /// Maps to `PUT /containers/{id}/archive?path=`: extracts a tar archive into the directory
    /// `path` inside the container.
    public func putArchive(
        _ id: String, path containerPath: String, tar: [UInt8], noOverwriteDirNonDir: Bool = true
    ) async throws {
        let path = self.path(
            "/containers/\(try Self.segment(id, method: "PUT", what: "container"))/archive",
            [("path", containerPath), ("noOverwriteDirNonDir", noOverwriteDirNonDir ? "1" : "0")])
        _ = try await send("PUT", path, body: tar, contentType: "application/x-tar")
    }
}
