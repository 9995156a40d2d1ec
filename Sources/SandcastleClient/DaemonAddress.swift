import NIOCore
import NIOPosix

/// Where the daemon's API listens: its unix socket, or a TCP address (`--url http://HOST:PORT`).
public enum DaemonAddress: Sendable, Equatable, CustomStringConvertible {
    case unixSocket(path: String)
    case tcp(host: String, port: Int)

    /// Parses `unix:///path`, `/path`, or `http://host:port`.
    public init(parsing text: String) throws(SandcastleClientError) {
        if text.hasPrefix("/") {
            self = .unixSocket(path: text)
        } else if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw .usage("a unix socket URL needs an absolute path: unix:///run/sandcastle/sandcastled.sock") }
            self = .unixSocket(path: path)
        } else if text.hasPrefix("http://") {
            var rest = Substring(text.dropFirst("http://".count))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port),
                colon != rest.startIndex
            else {
                throw .usage("expected http://HOST:PORT, as in http://127.0.0.1:8420, not \(text)")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("https://") {
            throw .usage("https is not supported by the CLI: put it on the daemon's host and use its unix socket, or plain http on a trusted network")
        } else {
            throw .usage("expected http://HOST:PORT or a unix socket path, not \(text)")
        }
    }

    public var description: String {
        switch self {
        case .unixSocket(let path): path
        case .tcp(let host, let port): "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }

    /// Connects a new channel and sets it up with `initializer`.
    func connect<Output: Sendable>(
        group: any EventLoopGroup, _ initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) async throws(SandcastleClientError) -> Output {
        let bootstrap = ClientBootstrap(group: group).connectTimeout(.seconds(10))
        do {
            switch self {
            case .unixSocket(let path):
                return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            case .tcp(let host, let port):
                return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            throw .daemonUnreachable(address: self, reason: Self.reason(error))
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ENOENT: return "no socket there"
            case ECONNREFUSED: return "connection refused"
            case EACCES, EPERM: return "permission denied (run as root or as a member of the socket's group)"
            default: return "\(io)"
            }
        }
        return "\(error)"
    }
}
