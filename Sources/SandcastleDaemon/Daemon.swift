import Foundation
import HostHardening
import Logging
import NIOCore
import NIOPosix
import SandcastleAPI
import SandcastleConfig
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `sandcastled`: builds everything through ``Sandcastle/make(configuration:parts:logger:)`` and runs
/// the API listeners and the domain's services until SIGTERM or SIGINT.
public enum Daemon {
    public struct Options: Sendable {
        public var configFile: String?
        public var selfHarden = true
        /// Hidden: harden as at start-up, try the denied calls, print the results and exit.
        public var hardeningSelfTest = false

        public init(arguments: [String]) throws {
            var iterator = arguments.dropFirst().makeIterator()
            while let argument = iterator.next() {
                switch argument {
                case "--config", "-c":
                    guard let value = iterator.next() else { throw DaemonError.configuration("--config needs a file") }
                    configFile = value
                case "--no-self-harden":
                    selfHarden = false
                case "--hardening-self-test":
                    hardeningSelfTest = true
                case "--help", "-h":
                    print(Self.usage)
                    exit(0)
                default:
                    throw DaemonError.configuration("unknown argument \(argument)\n\(Self.usage)")
                }
            }
        }

        static let usage = """
            usage: sandcastled [--config FILE] [--no-self-harden]
              --config FILE       TOML configuration (default: embedded defaults, or /etc/sandcastle/sandcastled.toml if it exists)
              --no-self-harden    keep all capabilities and install no seccomp filter in the daemon
            """
    }

    /// The configuration file in force (`--config`, else `/etc/sandcastle/sandcastled.toml` if it
    /// exists) and what it says; the embedded defaults without one. Synchronous: `main` reads it
    /// before any thread starts, to know what the hardening must keep.
    public static func loadConfiguration(options: Options, logger: Logger) throws -> (DaemonConfiguration, file: String?) {
        let file = options.configFile ?? (FileManager.default.fileExists(atPath: "/etc/sandcastle/sandcastled.toml") ? "/etc/sandcastle/sandcastled.toml" : nil)
        guard let file else {
            logger.info("no configuration file: running on embedded defaults")
            return (.defaults(), nil)
        }
        let configuration = try DaemonConfiguration.load(file: file)
        logger.info("configuration loaded", metadata: ["config.file": "\(file)"])
        return (configuration, file)
    }

    /// Runs the daemon; returns when it has shut down.
    public static func run(options: Options, logger: Logger) async throws {
        let (configuration, file) = try loadConfiguration(options: options, logger: logger)
        try await run(configuration: configuration, file: file, hardening: nil, notifier: try SystemdNotifier(), logger: logger)
    }

    /// Sets up the event-loop group that every socket of the daemon uses (NIO's shared one, which
    /// Hummingbird, the engine client, the gates and the egress proxy all take), and makes it the
    /// executor of every Swift task that has no executor of its own.
    ///
    /// - Its size is `[threads] event_loops`, one by default. With more than one, a session's
    ///   sockets land on different loops (the API connection, the terminal's, the engine's attach
    ///   stream, the gate's), and every hand-over between them is a wake-up of another thread. On
    ///   the bench's two cores, one loop took 2 to 10% off a lone warm launch's CPU and 5 to 23%
    ///   off one in a burst of 8 (bursts of 32 within their noise), and moved as many bytes as two.
    /// - Swift's tasks (the controllers, the session manager, the pool) then run on the loop whose
    ///   sockets they read and write: a request handed from its connection to its handler, from
    ///   one actor to another and back is a job queued on the same thread, not a wake-up of one of
    ///   Swift's pool threads and then of the loop again. On the bench's two cores this halved the
    ///   wake-ups of the daemon's threads per warm launch and took about a sixth off a lone
    ///   launch's CPU (PERFORMANCE.md).
    /// - What that asks of the code: a task never blocks (SQLite, libcurl, mounts and workspace
    ///   file I/O already run on threads of their own, as they must off Swift's pool too), and
    ///   long computations stay off tasks, since one holds up the loop's sockets while it runs.
    ///
    /// Call once, on the main thread, before anything uses NIO or starts a task (NIO stops the
    /// process if the size is set after its group exists). No thread starts here: the loops start
    /// with the first task, after the start-up hardening that requires a single thread.
    public static func setUpEventLoops(_ configuration: DaemonConfiguration, logger: Logger) {
        NIOSingletons.groupLoopCountSuggestion = configuration.eventLoops
        if !NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() {
            // A Swift runtime without the hook, or a hook already taken, refuses it. The daemon
            // works the same on Swift's own pool, with more wake-ups per request.
            logger.warning("Swift's tasks stay on its own thread pool: the runtime refused NIO's executor hook")
        }
    }

    /// Runs the daemon on a loaded configuration (`file`: where it came from, re-read on SIGHUP);
    /// `hardening` is what start-up hardening did, checked on every thread once ready; `notifier`
    /// talks to systemd (nil outside it).
    public static func run(
        configuration: DaemonConfiguration, file: String?, hardening: HostHardening.Report?, notifier: SystemdNotifier?,
        logger: Logger
    ) async throws {
        // A SIGHUP before the reload service listens must not kill the daemon (the default action).
        signal(SIGHUP, SIG_IGN)
        try checkMountPropagation(configuration, logger: logger)
        try DaemonState.prepare(configuration.stateDirectory)
        // Held until the process exits: a second daemon on the same state would fight this one
        // over its sessions and its socket.
        let lock = try DaemonState.lock(configuration.stateDirectory)
        defer { close(lock) }

        var parts = Sandcastle.Parts()
        parts.canMount = hardening == nil || hardeningNeeds(for: configuration).mounts
        let sandcastle = try await Sandcastle.make(configuration: configuration, parts: parts, logger: logger)
        try await sandcastle.manager.reconcile()

        try prepareSocket(configuration.socketPath)
        let socketPath = configuration.socketPath
        let socketGroup = configuration.socketGroup
        let ownSocket = Mutex<(UInt64, UInt64)?>(nil)
        let readiness = SystemdService.Readiness(listeners: configuration.tcpAddress == nil ? 1 : 2)
        let headerTimeout = Duration.seconds(configuration.headerTimeoutSeconds)
        var services: [any Service] = [
            buildApplication(
                sandcastle.api, address: .unixDomainSocket(path: socketPath), headerTimeout: headerTimeout,
                logger: Logger(label: "sandcastle.api"),
                onServerRunning: {
                    ownSocket.withLock { $0 = socketIdentity(socketPath) }
                    setSocketPermissions(socketPath, group: socketGroup, logger: logger)
                    logger.info("listening", metadata: ["api.socket": "\(socketPath)"])
                    readiness.listenerUp()
                })
        ]
        if let tcp = configuration.tcpAddress {
            services.append(
                buildApplication(
                    sandcastle.api, address: .hostname(tcp.host, port: tcp.port), headerTimeout: headerTimeout,
                    logger: Logger(label: "sandcastle.api.tcp"), onServerRunning: { readiness.listenerUp() }))
        }
        services.append(
            ReloadService(
                reloadable: Reloadable(
                    file: file, running: configuration, policies: sandcastle.manager.policies, keys: sandcastle.api.keys,
                    tokens: sandcastle.api.tokens, notifier: notifier, logger: logger)))
        // The engine's events, the reaper, the warm pool and, near the end so that it stops early,
        // the relay: viewers are closed (1001) before the listeners wait for their connections to
        // end. The containers keep running.
        services += sandcastle.services
        // Last, so it stops first: STOPPING=1 goes out as soon as SIGTERM arrives.
        services.append(
            SystemdService(
                notifier: notifier, readiness: readiness, health: .of(sandcastle.manager), logger: logger,
                onReady: { if let hardening { verifyThreads(report: hardening, logger: logger) } }))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try? sandcastle.store.close()
        removeSocket(socketPath, ifStillAt: ownSocket.withLock { $0 })
        logger.info("stopped; sessions keep running")
    }

    /// The socket file's device and inode, to remove only our own at exit.
    static func socketIdentity(_ path: String) -> (UInt64, UInt64)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    static func removeSocket(_ path: String, ifStillAt identity: (UInt64, UInt64)?) {
        guard let identity, let current = socketIdentity(path), current == identity else { return }
        unlink(path)
    }

    /// Makes the socket's directory, and removes a stale socket left by a daemon that died; a
    /// socket something still listens on is refused.
    static func prepareSocket(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw DaemonError.startup("\(path) exists and is not a socket; move it away")
            }
            if socketAnswers(path) {
                throw DaemonError.startup("something already listens on \(path) (another sandcastled?); stop it or configure another socket")
            }
            unlink(path)
        }
    }

    /// Whether something accepts connections on the unix socket at `path`.
    public static func socketAnswers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    /// 0660, and the configured group, so that members of that group may use the API.
    static func setSocketPermissions(_ path: String, group: String?, logger: Logger) {
        chmod(path, 0o660)
        guard let group else { return }
        guard let entry = getgrnam(group) else {
            logger.warning("the socket group does not exist; the socket keeps the daemon's group", metadata: ["api.socket_group": "\(group)"])
            return
        }
        if chown(path, uid_t.max, entry.pointee.gr_gid) != 0 {
            logger.warning("could not give the socket to its group", metadata: ["api.socket_group": "\(group)"])
        }
    }
}
