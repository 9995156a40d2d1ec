import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A terminal WebSocket (`GET /v1/sessions/{id}/tty`, subprotocol `sandcastle.tty.v1`, as the
/// README's "The terminal WebSocket" describes it), over the daemon's unix socket or TCP.
///
/// Built on SwiftNIO's WebSocket client upgrader because swift-websocket's client dials only
/// host names. Frames we send are masked, as a client must.
public struct TerminalConnection: Sendable {
    /// What the server sends.
    public enum Message: Sendable, Equatable {
        /// `{"type":"hello",...}`: the role granted and the byte offset the stream starts at.
        case hello(role: String, offset: UInt64)
        /// `{"type":"reset","offset":N}`: bytes before N are gone; replay starts at N.
        case reset(offset: UInt64)
        /// Raw terminal output.
        case output([UInt8])
        /// `{"type":"exit",...}`: the session ended.
        case exit(code: Int?, reason: String)
        /// The connection closed (with the close code the server gave, if any).
        case closed(code: Int?, reason: String)
    }

    /// Output side: what the terminal sends to the session.
    public struct Writer: Sendable {
        let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>

        /// Keystrokes (dropped by the daemon for a read-only viewer).
        public func send(input: [UInt8]) async throws {
            try await outbound.write(Self.frame(.binary, ByteBuffer(bytes: input)))
        }

        /// `{"type":"resize","cols":C,"rows":R}`.
        public func resize(cols: Int, rows: Int) async throws {
            try await outbound.write(Self.frame(.text, ByteBuffer(string: #"{"type":"resize","cols":\#(cols),"rows":\#(rows)}"#)))
        }

        /// `{"type":"signal","name":"INT"}`.
        public func signal(_ name: String) async throws {
            try await outbound.write(Self.frame(.text, ByteBuffer(string: #"{"type":"signal","name":"\#(name)"}"#)))
        }

        /// Closes the connection normally (1000): the session keeps running.
        public func close() async throws {
            var data = ByteBuffer()
            data.write(webSocketErrorCode: .normalClosure)
            try await outbound.write(Self.frame(.connectionClose, data))
        }

        static func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
            WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: data)
        }
    }

    enum Upgrade: Sendable {
        case upgraded(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    /// Opens the terminal of session `id` with an attach token and runs `body` with the incoming
    /// messages and a writer. The connection is closed when `body` returns.
    public static func open<Result: Sendable>(
        address: DaemonAddress, session id: String, token: String, since: UInt64? = nil, replayBytes: Bool = false,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (AsyncThrowingStream<Message, any Error>, Writer) async throws -> Result
    ) async throws -> Result {
        var query = since.map { ["since=\($0)"] } ?? []
        if replayBytes { query.append("replay=bytes") }
        let path = "/v1/sessions/\(try SandcastleClient.pathSegment(id))/tty"
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let channel = try await upgrade(
            address: address, path: path, headers: [("Sec-WebSocket-Protocol", "sandcastle.tty.v1, bearer.\(token)")], group: group,
            refusal: "the daemon refused the terminal of session \(id) (token expired or for another session, or the session is not running)")
        return try await serve(
            channel, binary: { .output($0) }, text: Self.control, closed: { .closed(code: $0, reason: $1) }
        ) { messages, outbound in
            try await body(messages, Writer(outbound: outbound))
        }
    }

    /// Runs `body` over an upgraded connection with the server's messages (frames turned into
    /// messages on a reader task of their own) and the outbound writer; closes it when `body`
    /// returns.
    static func serve<Message: Sendable, Result: Sendable>(
        _ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, binary: @escaping @Sendable ([UInt8]) -> Message?,
        text: @escaping @Sendable ([UInt8]) -> Message?, closed: @escaping @Sendable (Int?, String) -> Message,
        _ body: (AsyncThrowingStream<Message, any Error>, NIOAsyncChannelOutboundWriter<WebSocketFrame>) async throws -> Result
    ) async throws -> Result {
        try await channel.executeThenClose { inbound, outbound in
            let (messages, continuation) = AsyncThrowingStream.makeStream(of: Message.self)
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    do {
                        try await Self.read(inbound, into: continuation, pong: outbound, binary: binary, text: text, closed: closed)
                    } catch {
                        continuation.finish(throwing: error)
                    }
                    return nil
                }
                let result = try await body(messages, outbound)
                group.cancelAll()
                return result
            }
        }
    }

    /// Opens a WebSocket to `path` with `headers`; throws `refusal` when the daemon does not upgrade.
    static func upgrade(
        address: DaemonAddress, path: String, headers extra: [(String, String)], group: any EventLoopGroup, refusal: String
    ) async throws -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame> {
        let host = HTTPTransport(address: address, group: group).hostHeader
        let upgrade: EventLoopFuture<Upgrade> = try await address.connect(group: group) { channel in
            channel.eventLoop.makeCompletedFuture {
                let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 1 << 20) { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        .upgraded(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                    }
                }
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: host)
                for (name, value) in extra { headers.add(name: name, value: value) }
                headers.add(name: "Content-Length", value: "0")
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                    upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers),
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.close(promise: nil)
                        return channel.eventLoop.makeSucceededFuture(.refused)
                    })
                var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                // The daemon sends `hello` and the scrollback right behind its 101: bytes that
                // arrive in the same read as the response head belong to the WebSocket, and the
                // default (.dropBytes) lost them now and then.
                pipeline.leftOverBytesStrategy = .forwardBytes
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
            }
        }
        let channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>
        switch try await upgrade.get() {
        case .upgraded(let upgraded): channel = upgraded
        case .refused:
            throw SandcastleClientError.api(
                status: 400, code: "upgrade_refused",
                message: refusal,
                problems: [])
        }
        return channel
    }

    /// Turns frames into messages; answers pings; ends after the close frame.
    static func read<Message: Sendable>(
        _ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, into continuation: AsyncThrowingStream<Message, any Error>.Continuation,
        pong outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>, binary binaryMessage: ([UInt8]) -> Message?,
        text textMessage: ([UInt8]) -> Message?,
        closed: (Int?, String) -> Message
    ) async throws {
        var text: [UInt8] = []
        var binary: [UInt8] = []
        var current: WebSocketOpcode?
        for try await frame in inbound {
            var data = frame.unmaskedData
            switch frame.opcode {
            case .ping:
                try await outbound.write(Writer.frame(.pong, data))
                continue
            case .pong:
                continue
            case .connectionClose:
                let code = data.readWebSocketErrorCode().map(Self.number)
                let reason = data.readString(length: data.readableBytes) ?? ""
                continuation.yield(closed(code, reason))
                continuation.finish()
                return
            case .text, .binary:
                current = frame.opcode
                if frame.opcode == .text { text = Array(data.readableBytesView) } else { binary = Array(data.readableBytesView) }
            case .continuation:
                if current == .text { text += data.readableBytesView } else { binary += data.readableBytesView }
            default:
                continue
            }
            guard frame.fin else { continue }
            if current == .binary {
                if let message = binaryMessage(binary) { continuation.yield(message) }
                binary = []
            } else if current == .text {
                if let message = textMessage(text) { continuation.yield(message) }
                text = []
            }
        }
        continuation.yield(closed(nil, "connection lost"))
        continuation.finish()
    }

    static func control(_ bytes: [UInt8]) -> Message? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], let type = object["type"] as? String
        else { return nil }
        let offset = (object["offset"] as? NSNumber).map { UInt64(truncating: $0) } ?? 0
        switch type {
        case "hello": return .hello(role: object["role"] as? String ?? "", offset: offset)
        case "reset": return .reset(offset: offset)
        case "exit": return .exit(code: (object["code"] as? NSNumber)?.intValue, reason: object["reason"] as? String ?? "")
        default: return nil
        }
    }

    static func number(_ code: WebSocketErrorCode) -> Int {
        switch code {
        case .normalClosure: 1000
        case .goingAway: 1001
        case .protocolError: 1002
        case .unacceptableData: 1003
        case .dataInconsistentWithMessage: 1007
        case .policyViolation: 1008
        case .messageTooLarge: 1009
        case .missingExtension: 1010
        case .unexpectedServerError: 1011
        case .unknown(let value): Int(value)
        }
    }
}
