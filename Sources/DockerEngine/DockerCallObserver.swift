/// One finished call to the engine, as a ``DockerCallObserver`` sees it.
public struct DockerCall: Sendable, Equatable {
    /// The method and the path template, without the API version, the query or ids:
    /// `POST /containers/{id}/start`. A bounded set, fit for a metric label.
    public var operation: String
    /// nil when the call succeeded; otherwise the kind of failure.
    public var failure: DockerError.Code?
    /// From the request to the engine's complete answer; for streams (events, logs) and hijacked
    /// connections (attach, exec start), until the stream was open.
    public var duration: Duration

    public init(operation: String, failure: DockerError.Code?, duration: Duration) {
        self.operation = operation
        self.failure = failure
        self.duration = duration
    }

    /// `ok`, or the failure's code (`notFound`, `conflict`, `timeout`, ...).
    public var outcome: String { failure?.rawValue ?? "ok" }

    /// The operation of a request: `method` and `path` with the `/vX.Y` prefix and the query
    /// removed, and each container, exec, image, network or volume reference replaced by `{id}`.
    ///
    ///     operation(method: "POST", path: "/v1.41/containers/4f2a/attach?stream=1")
    ///     // "POST /containers/{id}/attach"
    public static func operation(method: String, path: String) -> String {
        // As bytes: searching a path by Character costs hundreds of instructions a character.
        let utf8 = path.utf8
        let end = utf8.firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        var segments = utf8[..<end].split(separator: UInt8(ascii: "/")).map { Substring($0) }
        if let first = segments.first, first.utf8.count > 1, first.utf8.first == UInt8(ascii: "v"),
            first.utf8.dropFirst().allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ".") })
        {
            segments.removeFirst()
        }
        if segments.count >= 2, collections.contains(segments[0]), !verbs.contains(segments[1]) {
            segments[1] = "{id}"
        }
        return method + " /" + segments.joined(separator: "/")
    }

    /// Collections whose second segment names one object, except for the collection's own verbs.
    private static let collections: Set<Substring> = ["containers", "exec", "images", "networks", "volumes", "plugins"]
    private static let verbs: Set<Substring> = ["create", "json", "prune", "load", "get", "search", "build"]
}

/// Told about every call a ``DockerClient`` makes to the engine, when it ends: for latency metrics.
///
/// Called on whatever thread or task finished the call, concurrently: an implementation must be
/// cheap and thread-safe, and must not block.
public protocol DockerCallObserver: Sendable {
    func dockerCallFinished(_ call: DockerCall)
}

extension DockerClient {
    /// Runs one engine call, timing it for `observer`.
    static func observe<T>(
        _ observer: (any DockerCallObserver)?, method: String, path: String, _ call: () async throws -> T
    ) async throws -> T {
        guard let observer else { return try await call() }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let result = try await call()
            observer.dockerCallFinished(
                DockerCall(operation: DockerCall.operation(method: method, path: path), failure: nil, duration: clock.now - start))
            return result
        } catch {
            let failure = (error as? DockerError)?.code ?? (error is CancellationError ? .cancelled : .transport)
            observer.dockerCallFinished(
                DockerCall(operation: DockerCall.operation(method: method, path: path), failure: failure, duration: clock.now - start))
            throw error
        }
    }

    func observe<T>(method: String, path: String, _ call: () async throws -> T) async throws -> T {
        try await Self.observe(configuration.observer, method: method, path: path, call)
    }
}
