import EgressPolicy
import NIOCore
import NIOHTTP1
import NIOPosix

/// The first handler of a client connection: reads one request head, decides, connects, and
/// hands the connection to a ``GlueHandler`` pair.
///
/// `CONNECT host:port` gets `200` and becomes a byte tunnel (the decoder is removed; bytes the
/// client sent early are replayed). An absolute-form request (`GET http://host/path`) is sent on
/// in origin form with `Connection: close`, its body re-encoded, and the response relayed as bytes.
/// A refusal is a response whose status line carries the one-line reason (`curl -v` shows it),
/// repeated as the body, and the connection closes.
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    static let decoderName = "egress-request-decoder"

    private enum State {
        case awaitingHead
        case connecting
        case tunnelling
        case forwarding(any Channel)
        case finished
    }

    private let proxy: EgressProxy
    private let session: SessionProxy
    private var state = State.awaitingHead
    private var isTunnel = false
    private var decoderRemoved = false
    /// Reads that arrived while connecting: raw bytes for a tunnel, request parts otherwise.
    private var pending: [NIOAny] = []
    private var reserved = false
    private var tunnel: Tunnel?
    /// The client half-closed while the destination was being reached: passed on once it is.
    private var clientInputClosed = false

    init(proxy: EgressProxy, session: SessionProxy) {
        self.proxy = proxy
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .awaitingHead:
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            begin(head, context: context)
        case .connecting:
            if decoderRemoved {
                pending.append(data)
            } else if isTunnel {
                if case .end = unwrapInboundIn(data) { removeDecoder(context: context) }
            } else {
                pending.append(data)
            }
        case .tunnelling:
            context.fireChannelRead(data)
        case .forwarding(let destination):
            forward(unwrapInboundIn(data), to: destination)
        case .finished:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            switch state {
            case .awaitingHead:
                state = .finished
                context.close(promise: nil)
            case .connecting:
                clientInputClosed = true
            case .tunnelling:
                context.fireUserInboundEventTriggered(event)
            case .forwarding, .finished:
                // The request is complete; its response still comes back.
                break
            }
            return
        }
        if event is IdleStateHandler.IdleStateEvent || event is TunnelClose {
            switch state {
            case .awaitingHead, .connecting:
                // No tunnel yet: a client that never finished its request, or a session ending.
                state = .finished
                context.close(promise: nil)
                return
            default:
                break
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .connecting = state { state = .finished }
        if reserved && tunnel == nil {
            reserved = false
            session.releaseTunnel()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .awaitingHead = state {
            refuse(400, "bad proxy request: \(error)", host: "", port: 0, context: context)
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: - Deciding

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        state = .connecting
        guard let target = Target(head) else {
            refuse(
                400, "bad proxy request: use CONNECT host:port, or an absolute http:// URL", host: "", port: 0,
                context: context)
            return
        }
        isTunnel = target.isTunnel
        guard let host = EgressHost(target.host) else {
            refuse(400, "bad proxy request: the destination is not a host name or an IP address", host: "", port: target.port, context: context)
            return
        }
        let shown = "\(host):\(target.port)"
        guard session.allow.admits(host: host, port: target.port) else {
            deny(403, "egress to \(shown) is not allowed by profile \(session.profile)", host, target.port, context)
            return
        }
        guard session.reserveTunnel(limit: proxy.configuration.maxConnections) else {
            deny(
                429, "egress limit reached: \(proxy.configuration.maxConnections) connections open for this session",
                host, target.port, context)
            return
        }
        reserved = true
        let loop = context.eventLoop
        proxy.resolve(host, on: loop).assumeIsolated().whenComplete { result in
            guard case .connecting = self.state else { return }
            switch result {
            case .failure(let error):
                self.deny(502, "egress to \(shown) failed: \(error)", host, target.port, context)
            case .success(let addresses):
                self.choose(addresses, host: host, target: target, head: head, context: context)
            }
        }
    }

    private func choose(
        _ addresses: [IPAddress], host: EgressHost, target: Target, head: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        let shown = "\(host):\(target.port)"
        let own = proxy.hostAddresses
        var refusals: [String] = []
        let chosen = addresses.first { address in
            guard let reason = session.allow.refusal(of: address, port: target.port, hostAddresses: own) else { return true }
            refusals.append("\(address) (\(reason))")
            return false
        }
        guard let chosen else {
            let why = refusals.isEmpty ? "it has no address" : "it resolves to \(refusals.joined(separator: ", "))"
            deny(403, "egress to \(shown) is not allowed: \(why)", host, target.port, context)
            return
        }
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: chosen.description, port: target.port)
        } catch {
            deny(502, "egress to \(shown) failed: \(error)", host, target.port, context)
            return
        }
        let tunnel = Tunnel(
            report: EgressTunnelReport(
                sessionID: session.id, host: host.description, port: target.port, address: chosen.description),
            session: session, observer: proxy.observer)
        ClientBootstrap(group: context.eventLoop)
            .connectTimeout(proxy.configuration.connectTimeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: EgressProxy.tunnelReads)
            .connect(to: socketAddress)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    let timedOut = error is ChannelError && (error as? ChannelError) == .connectTimeout(self.proxy.configuration.connectTimeout)
                    self.deny(
                        timedOut ? 504 : 502,
                        "egress to \(shown) failed: \(timedOut ? "no answer from \(chosen) within the connect timeout" : "cannot connect to \(chosen): \(error)")",
                        host, target.port, context)
                case .success(let destination):
                    guard case .connecting = self.state else {
                        destination.close(promise: nil)
                        return
                    }
                    self.connected(destination, tunnel: tunnel, target: target, head: head, context: context)
                }
            }
    }

    // MARK: - Relaying

    private func connected(
        _ destination: any Channel, tunnel: Tunnel, target: Target, head: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        self.tunnel = tunnel
        proxy.observer.egressConnected(tunnel.report)
        let glue = GlueHandler.pair(tunnel)
        let client = context.channel
        client.closeFuture.and(destination.closeFuture).assumeIsolated().whenComplete { _ in tunnel.finish() }
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: proxy.configuration.maxDuration) {
            client.pipeline.fireUserInboundEventTriggered(TunnelClose(reason: "max duration"))
        }
        client.closeFuture.whenComplete { _ in deadline.cancel() }
        do {
            if target.isTunnel {
                try destination.pipeline.syncOperations.addHandler(glue.destination)
                try context.pipeline.syncOperations.addHandler(glue.client, position: .after(self))
                state = .tunnelling
                context.writeAndFlush(
                    wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")), promise: nil)
                if !decoderRemoved { removeDecoder(context: context) }
                for data in pending { context.fireChannelRead(data) }
                pending = []
                context.fireChannelReadComplete()
                if clientInputClosed { destination.close(mode: .output, promise: nil) }
            } else {
                try destination.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
                try destination.pipeline.syncOperations.addHandler(glue.destination)
                try context.pipeline.syncOperations.addHandler(glue.client, position: .after(self))
                state = .forwarding(destination)
                var origin = head
                origin.uri = target.originForm
                origin.headers.remove(name: "proxy-connection")
                origin.headers.remove(name: "proxy-authorization")
                origin.headers.replaceOrAdd(name: "connection", value: "close")
                if !origin.headers.contains(name: "host") { origin.headers.add(name: "host", value: target.hostHeader) }
                destination.write(HTTPClientRequestPart.head(origin), promise: nil)
                for data in pending { forward(unwrapInboundIn(data), to: destination) }
                pending = []
                destination.flush()
            }
        } catch {
            destination.close(promise: nil)
            context.close(promise: nil)
        }
    }

    private func forward(_ part: HTTPServerRequestPart, to destination: any Channel) {
        switch part {
        case .head:
            // One request per connection: the response carries `Connection: close`.
            break
        case .body(let buffer):
            tunnel?.moved(buffer.readableBytes, up: true)
            destination.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        case .end(let trailers):
            destination.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil)
        }
    }

    private func removeDecoder(context: ChannelHandlerContext) {
        decoderRemoved = true
        context.pipeline.removeHandler(name: Self.decoderName, promise: nil)
    }

    // MARK: - Refusing

    /// A refusal the user is told about and the daemon records (`egress.denied`).
    private func deny(_ status: Int, _ reason: String, _ host: EgressHost, _ port: Int, _ context: ChannelHandlerContext) {
        session.counters.withLockedValue { $0.denied += 1 }
        proxy.observer.egressDenied(
            EgressDenial(sessionID: session.id, host: host.description, port: port, status: status, reason: reason))
        refuse(status, reason, host: host.description, port: port, context: context)
    }

    private func refuse(_ status: Int, _ reason: String, host: String, port: Int, context: ChannelHandlerContext) {
        state = .finished
        if reserved && tunnel == nil {
            reserved = false
            session.releaseTunnel()
        }
        // One line, ASCII, no control characters: it is the status line's reason phrase.
        let line = String(reason.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7f ? Character($0) : "?" })
        let body = line + "\n"
        let response =
            "HTTP/1.1 \(status) \(line)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\nX-Sandcastle-Egress: refused\r\n\r\n" + body
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// Where a proxy request goes: from `CONNECT host:port`, or from an absolute `http://` URL.
struct Target {
    var host: String
    var port: Int
    var isTunnel: Bool
    /// The path and query for an absolute-form request.
    var originForm = "/"
    var hostHeader = ""

    init?(_ head: HTTPRequestHead) {
        if head.method == .CONNECT {
            guard let (host, port) = Self.authority(head.uri, defaultPort: nil) else { return nil }
            self.host = host
            self.port = port
            isTunnel = true
            return
        }
        let uri = head.uri
        guard uri.lowercased().hasPrefix("http://") else { return nil }
        let rest = uri.dropFirst("http://".count)
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = String(rest[..<end])
        guard !authority.contains("@"), let (host, port) = Self.authority(authority, defaultPort: 80) else { return nil }
        self.host = host
        self.port = port
        isTunnel = false
        let path = rest[end...].prefix { $0 != "#" }
        originForm = path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : String(path))
        hostHeader = authority
    }

    /// `host:port` (`[v6]:port`); the port may be left out when there is a default.
    private static func authority(_ text: String, defaultPort: Int?) -> (String, Int)? {
        let hostEnd: String.Index
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostEnd = text.index(after: close)
        } else {
            hostEnd = text.firstIndex(of: ":") ?? text.endIndex
        }
        let host = String(text[..<hostEnd])
        let rest = text[hostEnd...]
        if rest.isEmpty {
            guard let defaultPort, !host.isEmpty else { return nil }
            return (host, defaultPort)
        }
        guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port), !host.isEmpty else {
            return nil
        }
        return (host, port)
    }
}
