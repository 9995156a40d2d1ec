extension DockerClient {
    /// Maps to `GET /_ping`: the engine answers and says its highest API version.
    public func ping() async throws -> EnginePing {
        try await observe(method: "GET", path: "/_ping") {
            try await Self.ping(transport: transport, timeout: configuration.requestTimeout)
        }
    }

    /// Maps to `GET /version`.
    public func version() async throws -> EngineVersion {
        try await get(EngineVersion.self, path("/version"))
    }

    /// Maps to `GET /info`.
    public func info() async throws -> EngineInfo {
        try await get(EngineInfo.self, path("/info"))
    }

    /// Maps to `GET /images/{name}/json`. Throws `notFound` for an image the engine does not have.
    public func inspectImage(_ reference: String) async throws -> ImageInspect {
        try await get(ImageInspect.self, path("/images/\(try Self.segment(reference, method: "GET", what: "image"))/json"))
    }
}
