import Foundation
import Logging
import NIOCore
import NIOPosix

/// A client of the Docker Engine API, over the engine's unix socket (or TCP) through libcurl.
///
/// Create one with ``connect(_:logger:eventLoopGroup:)``, which negotiates the API version, and
/// share it: every call may run concurrently. All blocking I/O runs on the client's own libcurl
/// thread or on SwiftNIO event loops, never on Swift's cooperative pool; every call has a timeout
/// and ends at once when its task is cancelled.
public final class DockerClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoint: DockerEndpoint
        /// Total time allowed for an ordinary call (not for streams, waits or stops, which have
        /// their own).
        public var requestTimeout: Duration
        /// Time allowed to connect to the engine.
        public var connectTimeout: Duration
        /// Largest buffered response accepted; larger ones fail with `responseTooLarge`.
        public var maxResponseBytes: Int
        /// A fixed API version instead of negotiation (it must still be at least 1.41).
        public var apiVersion: DockerAPIVersion?
        /// Told the operation, outcome and duration of every call (latency metrics).
        public var observer: (any DockerCallObserver)?

        public init(
            endpoint: DockerEndpoint = .defaultSocket, requestTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(5), maxResponseBytes: Int = 64 << 20,
            apiVersion: DockerAPIVersion? = nil, observer: (any DockerCallObserver)? = nil
        ) {
            self.endpoint = endpoint
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.maxResponseBytes = maxResponseBytes
            self.apiVersion = apiVersion
            self.observer = observer
        }

        /// The endpoint from `DOCKER_HOST`, or the default socket.
        public static func fromEnvironment(
            _ environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws(DockerError) -> Configuration {
            Configuration(endpoint: try DockerEndpoint.fromEnvironment(environment))
        }
    }

    public let configuration: Configuration
    /// The version every request is made with: the highest both sides speak.
    public let apiVersion: DockerAPIVersion
    /// What the engine reported when the client connected.
    public let engineVersion: EngineVersion
    let transport: CurlTransport
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger

    private init(
        configuration: Configuration, apiVersion: DockerAPIVersion, engineVersion: EngineVersion,
        transport: CurlTransport, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) {
        self.configuration = configuration
        self.apiVersion = apiVersion
        self.engineVersion = engineVersion
        self.transport = transport
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    deinit {
        transport.loop.shutdown()
    }

    /// Connects to the engine and negotiates the API version (`GET /_ping`, `GET /version`).
    ///
    /// - Throws: ``DockerError`` `engineUnreachable` when no engine answers (saying whether the
    ///   socket is missing or not accessible), `versionTooOld` when the engine is older than API 1.41.
    public static func connect(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "sandcastle.docker"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> DockerClient {
        let loop = CurlLoop(name: "sandcastle-curl")
        let transport = CurlTransport(
            endpoint: configuration.endpoint, loop: loop, connectTimeout: configuration.connectTimeout,
            maxResponseBytes: configuration.maxResponseBytes)
        do {
            let ping = try await observe(configuration.observer, method: "GET", path: "/_ping") {
                try await Self.ping(transport: transport, timeout: configuration.requestTimeout)
            }
            let versionResponse = try await observe(configuration.observer, method: "GET", path: "/version") {
                try await transport.send(.init(method: "GET", path: "/version", timeout: configuration.requestTimeout))
            }
            let version = try decode(EngineVersion.self, versionResponse, method: "GET", path: "/version")
            let negotiated: DockerAPIVersion
            if let pinned = configuration.apiVersion {
                guard pinned >= .minimum else {
                    throw DockerError(
                        code: .versionTooOld, method: "GET", path: "/version",
                        detail: "the configured API version \(pinned) is older than the minimum \(DockerAPIVersion.minimum)",
                        hint: "Remove the pinned version or set it to \(DockerAPIVersion.minimum) or newer")
                }
                negotiated = pinned
            } else {
                guard let engineMaximum = DockerAPIVersion(version.apiVersion) ?? ping.apiVersion else {
                    throw DockerError(
                        code: .undecodableBody, method: "GET", path: "/version",
                        detail: "the engine reported an API version that is not MAJOR.MINOR: '\(version.apiVersion)'")
                }
                switch DockerAPIVersion.negotiate(
                    engineMaximum: engineMaximum, engineMinimum: version.minAPIVersion.flatMap(DockerAPIVersion.init))
                {
                case .success(let agreed):
                    negotiated = agreed
                case .failure(.engineTooOld(let engine)):
                    throw DockerError(
                        code: .versionTooOld, method: "GET", path: "/version",
                        detail: "the engine \(version.version) speaks API \(engine), older than the minimum \(DockerAPIVersion.minimum)",
                        hint: "Upgrade the engine to Docker 20.10 or newer (Debian 12's docker.io)")
                case .failure(.engineTooNew(let engineMinimum)):
                    throw DockerError(
                        code: .versionTooOld, method: "GET", path: "/version",
                        detail: "the engine \(version.version) requires API \(engineMinimum) or newer; this client speaks up to \(DockerAPIVersion.maximum)",
                        hint: "Upgrade Sandcastle, or run an engine that still accepts API \(DockerAPIVersion.maximum)")
                }
            }
            logger.debug(
                "connected to the Docker engine",
                metadata: [
                    "docker.endpoint": "\(configuration.endpoint)", "docker.version": "\(version.version)",
                    "docker.api_version": "\(negotiated)",
                ])
            return DockerClient(
                configuration: configuration, apiVersion: negotiated, engineVersion: version, transport: transport,
                eventLoopGroup: eventLoopGroup, logger: logger)
        } catch {
            loop.shutdown()
            throw error
        }
    }

    static func ping(transport: CurlTransport, timeout: Duration) async throws -> EnginePing {
        let response = try await transport.send(.init(method: "GET", path: "/_ping", timeout: timeout))
        guard String(decoding: response.body, as: UTF8.self) == "OK" else {
            throw DockerError(
                code: .protocolViolation, method: "GET", path: "/_ping", status: response.status,
                detail: "the endpoint answered /_ping with something other than OK; is it a Docker engine?",
                body: DockerError.excerpt(response.body))
        }
        return EnginePing(
            apiVersion: response.headers["api-version"].flatMap(DockerAPIVersion.init),
            osType: response.headers["ostype"])
    }

    // MARK: - Request helpers

    /// `/v1.41/<path>?<query>` with each query value percent-encoded.
    func path(_ path: String, _ query: [(String, String?)] = []) -> String {
        var result = "/v\(apiVersion)\(path)"
        let items = query.compactMap { name, value in value.map { "\(name)=\(Self.percentEncode($0))" } }
        if !items.isEmpty { result += "?" + items.joined(separator: "&") }
        return result
    }

    /// Encodes a path segment or query value: every byte of its UTF-8 but the unreserved ASCII
    /// characters (letters, digits, `-._~`).
    static func percentEncode(_ text: String) -> String {
        let unreserved = { (byte: UInt8) in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                true
            default: false
            }
        }
        guard !text.utf8.allSatisfy(unreserved) else { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if unreserved(byte) {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(hex[Int(byte >> 4)])
                encoded.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// A container, image or exec id or name as a path segment; refuses ones that could never be
    /// valid, so that no caller-supplied text can change the request's path.
    static func segment(_ id: String, method: String, what: String) throws(DockerError) -> String {
        guard !id.isEmpty, id.utf8.count <= 512, !id.utf8.contains(0) else {
            throw DockerError(
                code: .badRequest, method: method, path: "(\(what))",
                detail: "invalid \(what) reference '\(id.prefix(64))': empty, too long or containing NUL")
        }
        return percentEncode(id)
    }

    func send(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil, timeout: Duration? = nil)
        async throws -> CurlResponse
    {
        try await observe(method: method, path: path) {
            try await transport.send(
                .init(
                    method: method, path: path, body: body, contentType: contentType,
                    timeout: timeout ?? configuration.requestTimeout))
        }
    }

    func send(_ method: String, _ path: String, json: some EngineJSONWritable, timeout: Duration? = nil) async throws
        -> CurlResponse
    {
        try await send(method, path, body: json.jsonBytes, contentType: "application/json", timeout: timeout)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: CurlResponse, method: String, path: String) throws -> T {
        try decode(response, method: method, path: path) { body in try JSONCoding.decoder.decode(type, from: body) }
    }

    /// The answers on a launch's path, read by `JSONText` (EngineJSON.swift says why).
    static func decode<T: EngineJSONReadable>(_ type: T.Type, _ response: CurlResponse, method: String, path: String) throws -> T {
        try decode(response, method: method, path: path) { body in try T(json: body) }
    }

    private static func decode<T>(_ response: CurlResponse, method: String, path: String, _ read: ([UInt8]) throws -> T) throws -> T {
        do {
            return try read(response.body)
        } catch {
            throw DockerError(
                code: .undecodableBody, method: method, path: path, status: response.status,
                detail: "the engine's answer does not decode as \(T.self): \(error)",
                body: DockerError.excerpt(response.body))
        }
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String, timeout: Duration? = nil) async throws -> T {
        try Self.decode(type, try await send("GET", path, timeout: timeout), method: "GET", path: path)
    }

    func get<T: EngineJSONReadable>(_ type: T.Type, _ path: String, timeout: Duration? = nil) async throws -> T {
        try Self.decode(type, try await send("GET", path, timeout: timeout), method: "GET", path: path)
    }
}
