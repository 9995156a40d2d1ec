/// Where the Docker engine listens.
///
/// Parsed from the daemon's configuration or from `DOCKER_HOST`, in the forms the Docker CLI
/// accepts: `unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375` (plain HTTP; TLS is not supported).
public enum DockerEndpoint: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// The engine's default socket on Linux.
    public static let defaultSocket = DockerEndpoint.unix(path: "/var/run/docker.sock")

    /// Parses `unix:///path` or `tcp://host:port`.
    public init(parsing text: String) throws(DockerError) {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/"), !path.contains("\0") else {
                throw DockerError.invalidEndpoint(text, reason: "a unix endpoint needs an absolute socket path, as in unix:///var/run/docker.sock")
            }
            self = .unix(path: path)
        } else if text.hasPrefix("tcp://") || text.hasPrefix("http://") {
            let rest = text.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            // "tcp:", "", "host:port", ...
            guard rest.count >= 3 else {
                throw DockerError.invalidEndpoint(text, reason: "expected tcp://HOST:PORT")
            }
            let authority = rest[2]
            guard let colon = authority.lastIndex(of: ":"),
                let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port)
            else {
                throw DockerError.invalidEndpoint(text, reason: "expected tcp://HOST:PORT with a port between 1 and 65535")
            }
            var host = String(authority[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else {
                throw DockerError.invalidEndpoint(text, reason: "the host is empty")
            }
            self = .tcp(host: host, port: port)
        } else {
            throw DockerError.invalidEndpoint(text, reason: "only unix:// and tcp:// endpoints are supported")
        }
    }

    /// `DOCKER_HOST` when it is set and not empty, the default socket otherwise.
    public static func fromEnvironment(_ environment: [String: String]) throws(DockerError) -> DockerEndpoint {
        if let host = environment["DOCKER_HOST"], !host.isEmpty {
            return try DockerEndpoint(parsing: host)
        }
        return .defaultSocket
    }

    /// The base URL libcurl is given; for a unix socket the host part is a placeholder.
    var baseURL: String {
        switch self {
        case .unix: return "http://docker"
        case .tcp(let host, let port):
            return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
        }
    }

    /// The `Host` header sent on hijacked connections.
    var hostHeader: String {
        switch self {
        case .unix: return "docker"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix://\(path)"
        case .tcp(let host, let port): return "tcp://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }
}
