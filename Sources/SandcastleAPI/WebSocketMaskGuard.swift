import NIOCore
import NIOWebSocket

/// Follows the frame boundaries of a client's WebSocket byte stream and finds the first frame sent
/// without a mask. RFC 6455 section 5.1: a client masks every frame, and a server must fail the
/// connection on an unmasked one (close 1002). Neither NIO's frame decoder nor swift-websocket
/// checks this, so ``WebSocketMaskGuard`` does, on the raw bytes. Pure: no I/O.
struct WebSocketMaskScanner {
    /// What a scan found.
    enum Verdict: Equatable {
        /// Every frame header seen so far was masked.
        case masked
        /// The frame that starts at this offset of the scanned bytes is not masked.
        case unmasked(frameStart: Int)
    }

    /// Bytes of the current frame's header seen so far (at most 14).
    private var header: [UInt8] = []
    /// Payload bytes of the current frame still to skip.
    private var payloadLeft: UInt64 = 0

    mutating func scan(_ bytes: some Collection<UInt8>) -> Verdict {
        var offset = 0
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if payloadLeft > 0 {
                let available = UInt64(bytes.distance(from: index, to: bytes.endIndex))
                let skip = min(available, payloadLeft)
                payloadLeft -= skip
                index = bytes.index(index, offsetBy: Int(skip))
                offset += Int(skip)
                continue
            }
            header.append(bytes[index])
            index = bytes.index(after: index)
            offset += 1
            guard header.count >= 2 else { continue }
            if header[1] & 0x80 == 0 {
                return .unmasked(frameStart: offset - header.count)
            }
            let shortLength = header[1] & 0x7F
            let extendedBytes = shortLength == 126 ? 2 : shortLength == 127 ? 8 : 0
            guard header.count == 2 + extendedBytes + 4 else { continue }
            var length = UInt64(shortLength)
            if extendedBytes > 0 {
                length = header[2..<(2 + extendedBytes)].reduce(0) { $0 << 8 | UInt64($1) }
            }
            header.removeAll(keepingCapacity: true)
            payloadLeft = length
        }
        return .masked
    }
}

/// Fails a WebSocket connection whose client sends an unmasked frame: answers with a close frame
/// (1002, protocol error) and closes it. The WebSocket handler never receives that frame.
///
/// It sits first in every connection's pipeline (next to ``HeaderTimeoutHandler``) and stays idle
/// while the connection speaks HTTP: it starts scanning with the first read after the upgrade
/// (once NIO's WebSocket frame decoder is in the pipeline), which is where a client's first frame
/// begins, because a client must wait for the `101` before sending frames (RFC 6455 section 4.1).
final class WebSocketMaskGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var upgraded = false
    private var failed = false
    private var scanner = WebSocketMaskScanner()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        if !upgraded {
            upgraded = (try? context.pipeline.syncOperations.context(
                handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)) != nil
            guard upgraded else {
                context.fireChannelRead(data)
                return
            }
        }
        var buffer = unwrapInboundIn(data)
        // Over the raw bytes: a `ByteBufferView` checks exclusive access to the buffer's storage
        // on every byte it hands out.
        switch buffer.withUnsafeReadableBytes({ scanner.scan($0) }) {
        case .masked:
            context.fireChannelRead(data)
        case .unmasked(let frameStart):
            failed = true
            if frameStart > 0, let before = buffer.readSlice(length: frameStart) {
                context.fireChannelRead(wrapInboundOut(before))
            }
            // Close frame, status 1002: FIN + opcode 8, length 2, the code big-endian.
            var close = context.channel.allocator.buffer(capacity: 4)
            close.writeBytes([0x88, 0x02])
            close.writeInteger(UInt16(1002))
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(NIOAny(close)).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
