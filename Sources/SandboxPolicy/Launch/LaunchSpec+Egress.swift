import DockerEngine

/// What a session with egress gets in its container: its proxy's socket directory and the
/// forwarder program, both bound read-only, and the forwarder as the entrypoint, which listens on
/// 127.0.0.1:3128 and runs the session's command (see `Egress/sandcastle-egress-forward.c`).
///
/// The directory is bound, not the socket: a socket bound by itself would be the daemon's old
/// inode forever, while in a bound directory the restarted daemon's new socket appears.
public struct EgressMount: Sendable, Equatable {
    /// Where the socket directory appears; the forwarder connects to `proxy.sock` in it.
    public static let directoryTarget = "/.sandcastle/egress"
    /// The socket's file name in the directory.
    public static let socketName = "proxy.sock"
    /// Where the forwarder appears; the container's entrypoint.
    public static let forwarderTarget = "/.sandcastle/egress-forward"
    /// The proxy URL tools are given.
    public static let proxyURL = "http://127.0.0.1:3128"

    /// The session's socket directory on the host: absolute, normalised.
    public let socketDirectory: String
    /// The forwarder program on the host (built by `scripts/build-gate`).
    public let forwarder: String

    public init(socketDirectory: String, forwarder: String) {
        self.socketDirectory = socketDirectory
        self.forwarder = forwarder
    }

    /// The proxy variables curl, git, pip and npm read (both spellings: some tools read only
    /// one). `NO_PROXY` keeps loopback direct. `NODE_USE_ENV_PROXY=1` makes Node's own `fetch`
    /// and `https` use them (Node 24, 22.21); older Node ignores it.
    public static let environment: [String] = {
        let proxy = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"].map { "\($0)=\(proxyURL)" }
        return proxy + ["NO_PROXY", "no_proxy"].map { "\($0)=localhost,127.0.0.1,::1" } + ["NODE_USE_ENV_PROXY=1"]
    }()

    /// `env` with the proxy variables added (a variable `env` already sets is kept): what the
    /// session's command and its execs see, cold or from the warm pool.
    public static func environment(merging env: [String]) -> [String] {
        var merged = env
        for entry in environment {
            let key = entry.prefix { $0 != "=" }
            if !merged.contains(where: { $0.hasPrefix(key + "=") }) { merged.append(entry) }
        }
        return merged
    }

    /// The argument vector that runs `command` behind the forwarder (a warm-pool claim: the gate
    /// execs it, as the entrypoint does on a cold launch).
    public static func forwarded(_ command: [String]) -> [String] {
        [forwarderTarget] + command
    }

    /// The two read-only binds.
    var mounts: [Mount] {
        [(socketDirectory, Self.directoryTarget), (forwarder, Self.forwarderTarget)].map {
            Mount(
                type: .bind, source: $0.0, target: $0.1, readOnly: true,
                bindOptions: Mount.BindOptions(propagation: .rprivate))
        }
    }

    /// Adds the binds, the entrypoint and the environment (a variable the request set is kept).
    func apply(to config: inout ContainerConfig) {
        addMounts(to: &config)
        config.entrypoint = [Self.forwarderTarget]
        config.env = Self.environment(merging: config.env ?? [])
    }

    /// Adds the two binds only (a warm-pool container: the gate stays the entrypoint and hands
    /// the environment over at claim time).
    func addMounts(to config: inout ContainerConfig) {
        var host = config.hostConfig ?? HostConfig()
        host.mounts = (host.mounts ?? []) + mounts
        config.hostConfig = host
    }
}
