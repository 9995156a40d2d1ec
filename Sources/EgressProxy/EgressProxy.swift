#if canImport(Glibc)
import Glibc
#endif
import EgressPolicy
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The daemon's egress proxy: one unix socket per session, each in a directory of its own that
/// the session's container sees read-only, speaking HTTP (`CONNECT host:port`, and absolute-form
/// `http://` requests). Every destination is checked against the session's allow list, resolved
/// by the daemon (a name map, then getaddrinfo on a thread pool, never on an event loop or Swift's
/// cooperative pool), each address checked again, and only a checked address is connected to.
///
/// Bytes move between the two connections on one event loop through ``GlueHandler``s, with
/// backpressure, no task hop per chunk. A failure affects one connection: nothing here can take
/// the daemon down. A session's socket and tunnels end with ``close(sessionID:)``; ``shutdown()``
/// closes the sockets and keeps the directories, so that a restarted daemon's new socket appears
/// in the containers still running.
public final class EgressProxy: Sendable {
    public struct Configuration: Sendable {
        /// Tunnels one session may have open at once; one more gets `429`.
        public var maxConnections: Int
        /// A tunnel with no byte either way for this long is closed.
        public var idleTimeout: TimeAmount
        /// A tunnel is closed after this long, busy or not.
        public var maxDuration: TimeAmount
        /// Connecting to a destination gives up after this (`504`).
        public var connectTimeout: TimeAmount
        /// Names resolved without DNS.
        public var names: EgressNameMap

        public init(
            maxConnections: Int = 64, idleTimeout: TimeAmount = .seconds(300), maxDuration: TimeAmount = .hours(1),
            connectTimeout: TimeAmount = .seconds(10), names: EgressNameMap = EgressNameMap()
        ) {
            self.maxConnections = maxConnections
            self.idleTimeout = idleTimeout
            self.maxDuration = maxDuration
            self.connectTimeout = connectTimeout
            self.names = names
        }
    }

    public let configuration: Configuration
    let observer: any EgressObserver
    let group: any EventLoopGroup
    let resolverThreads: NIOThreadPool
    let logger: Logger
    private let sessions = NIOLockedValueBox<[String: SessionProxy]>([:])
    private let ownAddresses = NIOLockedValueBox<Set<IPAddress>>([])

    public init(
        configuration: Configuration, observer: any EgressObserver,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "sandcastle.egress")
    ) {
        self.configuration = configuration
        self.observer = observer
        self.group = group
        self.logger = logger
        self.resolverThreads = NIOThreadPool(numberOfThreads: 2)
        resolverThreads.start()
        ownAddresses.withLockedValue { $0 = SystemResolver.hostAddresses() }
    }

    /// Opens session `sessionID`'s socket, `directory/proxy.sock`, owned by `uid` (the session's
    /// user) and no one else; replaces one already open for the session.
    public func open(sessionID: String, profile: String, allow: EgressAllowList, uid: UInt32, directory: String)
        async throws(EgressProxyError)
    {
        await close(sessionID: sessionID, removingDirectory: false)
        // Addresses change (DHCP, a new interface): read them again whenever a session opens.
        let addresses = SystemResolver.hostAddresses()
        ownAddresses.withLockedValue { $0 = addresses }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw EgressProxyError("cannot create the egress socket directory \(directory): \(error.localizedDescription)")
        }
        let session = SessionProxy(id: sessionID, profile: profile, allow: allow, directory: directory)
        let path = directory + "/proxy.sock"
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.recvAllocator, value: Self.tunnelReads)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try self.accept(channel, for: session)
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        } catch {
            throw EgressProxyError("cannot listen on \(path): \(error)")
        }
        guard chown(path, uid, uid) == 0, chmod(path, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await server.close()
            throw EgressProxyError("cannot give \(path) to uid \(uid): \(reason)")
        }
        session.server.withLockedValue { $0 = server }
        sessions.withLockedValue { $0[sessionID] = session }
        logger.debug("egress proxy open", metadata: ["session.id": "\(sessionID)", "egress.allow": "\(allow)"])
    }

    /// Closes session `sessionID`'s socket and every tunnel it has; deletes its directory unless
    /// the daemon is only stopping (`removingDirectory` false).
    public func close(sessionID: String, removingDirectory: Bool = true) async {
        guard let session = sessions.withLockedValue({ $0.removeValue(forKey: sessionID) }) else { return }
        try? await session.server.withLockedValue { $0 }?.close()
        for channel in session.clients.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(TunnelClose(reason: "session ended"))
            try? await channel.close()
        }
        if removingDirectory { try? FileManager.default.removeItem(atPath: session.directory) }
    }

    /// The allow list and counters of session `sessionID`, when its proxy is open.
    public func status(sessionID: String) -> EgressStatus? {
        sessions.withLockedValue { $0[sessionID] }.map {
            EgressStatus(allow: $0.allow.entries, counters: $0.counters.withLockedValue { $0 })
        }
    }

    /// The sessions with an open proxy.
    public var openSessions: [String] {
        sessions.withLockedValue { Array($0.keys) }
    }

    /// Closes every socket (keeping the directories) and stops the resolver threads.
    public func shutdown() async {
        for id in openSessions { await close(sessionID: id, removingDirectory: false) }
        try? await resolverThreads.shutdownGracefully()
        await observer.flush()
    }

    // MARK: - Connections

    private func accept(_ channel: any Channel, for session: SessionProxy) throws {
        let id = ObjectIdentifier(channel)
        session.clients.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in session.clients.withLockedValue { $0[id] = nil } }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(IdleStateHandler(allTimeout: configuration.idleTimeout))
        try sync.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: ProxyHandler.decoderName)
        try sync.addHandler(ProxyHandler(proxy: self, session: session))
    }

    /// Reads on a tunnel's two channels: small for a request, growing to 1 MiB for a download, so
    /// that a busy tunnel costs one wakeup and one write per MiB rather than sixteen (NIO's
    /// default stops at 64 KiB). A buffer grows only after reads that filled it.
    static let tunnelReads = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20)

    /// Where `host` may be reached: the name map's or the resolver's addresses; on `eventLoop`.
    func resolve(_ host: EgressHost, on eventLoop: any EventLoop) -> EventLoopFuture<[IPAddress]> {
        switch host {
        case .address(let address):
            return eventLoop.makeSucceededFuture([address])
        case .name(let name):
            if let mapped = configuration.names.addresses[name] { return eventLoop.makeSucceededFuture(mapped) }
            return resolverThreads.runIfActive(eventLoop: eventLoop) { try SystemResolver.resolve(name) }
        }
    }

    var hostAddresses: Set<IPAddress> {
        ownAddresses.withLockedValue { $0 }
    }
}

/// One session's socket, allow list and counters. Shared by its connections' event loops: every
/// mutable part is behind a lock.
final class SessionProxy: Sendable {
    let id: String
    let profile: String
    let allow: EgressAllowList
    let directory: String
    let server = NIOLockedValueBox<(any Channel)?>(nil)
    let clients = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    let counters = NIOLockedValueBox(EgressCounters())

    init(id: String, profile: String, allow: EgressAllowList, directory: String) {
        self.id = id
        self.profile = profile
        self.allow = allow
        self.directory = directory
    }

    /// Takes one of `limit` tunnel places; false when all are taken.
    func reserveTunnel(limit: Int) -> Bool {
        counters.withLockedValue { counters in
            guard counters.active < limit else { return false }
            counters.active += 1
            counters.connections += 1
            return true
        }
    }

    func releaseTunnel() {
        counters.withLockedValue { $0.active -= 1 }
    }

    func add(up: Int64, down: Int64) {
        counters.withLockedValue {
            $0.bytesUp += up
            $0.bytesDown += down
        }
    }
}

/// Sent down a client's pipeline to close its tunnel with a reason.
struct TunnelClose {
    var reason: String
}
