import AccessControl
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import TerminalRelay

/// The terminal's upgrade, `GET /v1/sessions/{id}/tty` with `Upgrade: websocket`, served by NIO's
/// own HTTP handlers and WebSocket upgrader, then by a ``TerminalViewerHandler``.
///
/// Every browser opens one of these per terminal, and a warm launch is a create and this. Served
/// by Hummingbird, each would have its connection wrapped in async channels and its request routed
/// through generic code: a task for the connection, the request's parts through async sequences,
/// and the WebSocket's reader, pings and close in tasks of their own. In instructions that was
/// two thirds of a terminal connection (PERFORMANCE.md). Here the request is read, checked and
/// upgraded on the connection's event loop; a task is started only to read a session from the
/// store (for the first viewer of a session whose terminal is not live yet) and for a resize or
/// a signal.
///
/// A refused upgrade is answered as Hummingbird answers one: a bare 400, and the connection
/// closed. The precise refusal is in the log, and a plain GET of the route (which Hummingbird
/// serves) answers with it.
struct TerminalRoute: Sendable {
    let controller: TerminalController
    let connections: WebSocketConnections
    let viewer: TerminalViewerHandler.Configuration

    /// Sets `channel` up for its first request, a terminal upgrade not yet read. The future says
    /// whether the connection was upgraded.
    func configure(_ channel: any Channel, logger: Logger) throws -> EventLoopFuture<Bool> {
        let loop = channel.eventLoop
        let granted = NIOLoopBoundBox<TerminalController.Grant?>(nil, eventLoop: loop)
        let controller = controller
        let viewer = viewer
        let upgrader = NIOTypedWebSocketServerUpgrader<Bool>(
            maxFrameSize: viewer.maxMessageBytes,
            shouldUpgrade: { channel, head in
                let accepted: @Sendable (TerminalController.Grant) -> HTTPHeaders? = { grant in
                    granted.value = grant
                    return grant.negotiatedSubprotocol ? ["Sec-WebSocket-Protocol": terminalSubprotocol] : [:]
                }
                let refused: @Sendable (any Error) -> HTTPHeaders? = { error in
                    logger.info("terminal upgrade refused", metadata: ["reason": "\(error)"])
                    return nil
                }
                do {
                    let grant = try controller.check(TerminalRequest(head, channel: channel), logger: logger)
                    guard grant.containerID == nil else { return loop.makeSucceededFuture(accepted(grant)) }
                    let found = loop.makePromise(of: TerminalController.Grant.self)
                    found.completeWithTask { try await controller.withContainer(grant) }
                    return found.futureResult.map(accepted).recover(refused)
                } catch {
                    return loop.makeSucceededFuture(refused(error))
                }
            },
            upgradePipelineHandler: { channel, _ in
                loop.makeCompletedFuture {
                    guard let grant = granted.value, let containerID = grant.containerID else {
                        // Only an upgrade the check granted gets here.
                        throw ChannelError.inappropriateOperationForState
                    }
                    // Nil while the daemon shuts down: the viewer is closed with 1001.
                    let terminal = try? controller.dependencies.relay.terminal(session: grant.sessionID, containerID: containerID)
                    try TerminalViewerHandler.install(
                        on: channel, terminal: terminal, role: grant.role == .readWrite ? .readWrite : .readOnly,
                        since: grant.since, replay: grant.replay, session: grant.sessionID, roleName: grant.role.rawValue,
                        configuration: viewer, logger: logger)
                    return true
                }
            })
        var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Bool>(
            upgradeConfiguration: .init(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    loop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RefusedUpgradeResponder())
                        return false
                    }
                }))
        configuration.enablePipelining = false
        return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
    }
}

/// Answers a terminal upgrade that was refused (or was no valid WebSocket upgrade) with a bare
/// 400 as soon as it joins the pipeline (NIO's upgrade handler has read the request), and closes
/// the connection.
final class RefusedUpgradeResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func handlerAdded(context: ChannelHandlerContext) {
        let headers: HTTPHeaders = ["Connection": "close", "Content-Length": "0"]
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }

    /// What is left of the request is not read.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Holds a connection's first bytes until its first request's head shows which pipeline serves
/// it, sets that pipeline up behind it, hands the bytes on and leaves: a terminal upgrade goes to
/// ``TerminalRoute``, anything else to Hummingbird. A request line that is not a terminal's is
/// handed on as soon as it is complete.
final class FirstRequestRouter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias SetUp = (_ channel: any Channel, _ terminalUpgrade: Bool) throws -> EventLoopFuture<APIChannel.Route>

    private let route: EventLoopPromise<APIChannel.Route>
    private let setUp: SetUp
    private var received: ByteBuffer?
    private var decided = false

    init(route: EventLoopPromise<APIChannel.Route>, setUp: @escaping SetUp) {
        self.route = route
        self.setUp = setUp
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if received == nil {
            received = buffer
        } else {
            received!.writeBuffer(&buffer)
        }
        guard let bytes = received,
            let terminalUpgrade = bytes.withUnsafeReadableBytes({ FirstRequestHead.isTerminalUpgrade($0) })
        else { return }
        decided = true
        received = nil
        do {
            try setUp(context.channel, terminalUpgrade).cascade(to: route)
        } catch {
            route.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !decided { route.fail(ChannelError.inputClosed) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !decided {
            decided = true
            route.fail(ChannelError.inputClosed)
        }
        context.fireChannelInactive()
    }

    /// A client that half-closes before its first request is whole will not send it: closed.
    /// (The listener allows half-closure, so the end of its input is an event, not the close.)
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !decided, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Reads a connection's first request head from its raw bytes, only as far as routing needs.
enum FirstRequestHead {
    /// The most bytes held before giving up on finding the head (Hummingbird then refuses it).
    static let limit = 16 << 10

    /// Whether the request is a terminal upgrade: `GET` of `/v1/sessions/{id}/tty` (empty path
    /// segments skipped, as the router does) with an `Upgrade` header. Nil until that is known.
    static func isTerminalUpgrade(_ bytes: UnsafeRawBufferPointer) -> Bool? {
        guard let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            return bytes.count >= limit ? false : nil
        }
        guard isTerminalRequestLine(bytes[..<lineEnd]) else { return false }
        // The whole head: up to an empty line.
        var index = lineEnd + 1
        while index < bytes.count {
            guard let end = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let line = bytes[index..<end]
            if line.isEmpty || line.elementsEqual([UInt8(ascii: "\r")]) { return false }
            if hasName(line, "upgrade") { return true }
            index = end + 1
        }
        return bytes.count >= limit ? false : nil
    }

    private static func isTerminalRequestLine(_ line: Slice<UnsafeRawBufferPointer>) -> Bool {
        let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].elementsEqual("GET".utf8) else { return false }
        let target = parts[1]
        let path = target[..<(target.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) ?? target.endIndex)]
        let segments = path.split(separator: UInt8(ascii: "/"))
        return segments.count == 4 && segments[0].elementsEqual("v1".utf8) && segments[1].elementsEqual("sessions".utf8)
            && segments[3].elementsEqual("tty".utf8)
    }

    /// Whether a header line has the field name `name` (lowercase ASCII), in any case.
    private static func hasName(_ line: Slice<UnsafeRawBufferPointer>, _ name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        guard line.count > count, line[line.startIndex + count] == UInt8(ascii: ":") else { return false }
        return name.withUTF8Buffer { expected in
            zip(line.prefix(count), expected).allSatisfy { $0 | 0x20 == $1 }
        }
    }
}
