import NIOCore

/// A hijacked connection to a container's TTY whose output is pushed, on the connection's event
/// loop, to a ``TerminalStreamSink``: the terminal relay's byte path, with no task between the
/// socket and the relay. (``HijackedStream`` is the same connection read by a task instead.)
///
/// Until ``deliver(to:)`` is called, what the engine sends is held (see ``TerminalStreamHandler``),
/// so a stream opened before its container starts, or long before its session is claimed, loses
/// nothing, even if the container has exited and the connection closed meanwhile.
public struct TerminalStream: Sendable {
    /// The connection; its pipeline ends in the hand-off handler.
    public let channel: any Channel
    let handler: NIOLoopBound<TerminalStreamHandler>

    /// Adds the hand-off handler to `channel`'s pipeline. Call it on the channel's event loop,
    /// before anything is read (in the bootstrap's initializer): the engine client makes its
    /// streams so, an in-memory engine makes one from one end of a socket pair.
    public static func adopting(_ channel: any Channel) throws -> TerminalStream {
        let handler = TerminalStreamHandler()
        try channel.pipeline.syncOperations.addHandler(handler)
        return TerminalStream(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
    }

    /// Pushes the output to `sink` on the connection's event loop, what was held first, until the
    /// engine ends the stream or the connection fails (which throws); then closes the connection.
    /// Cancelling the calling task closes the connection too. Use it once.
    ///
    /// Write the input with ``write(_:)`` meanwhile, from any thread.
    public func deliver(to sink: any TerminalStreamSink) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.deliver(to: sink, until: promise) }
        let channel = self.channel
        try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Writes `bytes` to the TTY without waiting: the channel queues them, in order, ahead of
    /// anything written later. See ``isWritable`` for back-pressure.
    public func write(_ bytes: ByteBuffer) {
        if channel.eventLoop.inEventLoop {
            handler.value.writeInput(bytes)
        } else {
            channel.writeAndFlush(bytes, promise: nil)
        }
    }

    /// Sends `bytes` before the stream is delivered and waits until they are written: the warm
    /// pool writes the claim message to a gate it attached to long before, then hands the stream
    /// to the terminal relay.
    public func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// False while more input is queued for the engine than the channel's high-water mark: a
    /// writer that wants back-pressure holds off until it is true again.
    public var isWritable: Bool { channel.isWritable }

    /// Closes the connection without delivering it.
    public func close() async {
        try? await channel.close()
    }
}

/// Where ``TerminalStream/deliver(to:)`` pushes output: called on the connection's event loop, one
/// call at a time. Keep the work short; it holds up every connection of that loop.
public protocol TerminalStreamSink: Sendable {
    func received(_ bytes: ByteBuffer)
}

/// The last handler of a ``TerminalStream``'s pipeline: holds what arrives until the stream is
/// delivered, then pushes everything to the sink.
///
/// While holding it keeps reading only until ``holdLimit`` bytes wait; beyond that the engine's
/// socket fills and the container's output pauses, as it would for a reader that does not read.
/// What it holds outlives the connection: the stream keeps this handler.
final class TerminalStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let holdLimit = 1 << 20

    private enum Mode {
        case holding
        case delivering(any TerminalStreamSink, EventLoopPromise<Void>)
        case done
    }

    private var mode = Mode.holding
    private var held: [ByteBuffer] = []
    private var heldBytes = 0
    /// A read the holding state did not pass on (the limit was reached).
    private var readPending = false
    /// How the stream ended while holding: nil while it is open.
    private var ending: Result<Void, any Error>?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        end(.success(()))
    }

    /// Pushes output to `sink` until the stream ends, then completes `promise`.
    func deliver(to sink: any TerminalStreamSink, until promise: EventLoopPromise<Void>) {
        guard case .holding = mode else {
            promise.fail(ChannelError.inappropriateOperationForState)
            return
        }
        mode = .delivering(sink, promise)
        for bytes in held { sink.received(bytes) }
        held = []
        heldBytes = 0
        if let ending {
            end(ending)
        } else if readPending {
            readPending = false
            context?.read()
        }
    }

    /// The stream is over: closes the connection and tells whoever waits for it.
    private func end(_ result: Result<Void, any Error>) {
        switch mode {
        case .holding:
            ending = ending ?? result
        case .delivering(_, let promise):
            mode = .done
            context?.close(promise: nil)
            promise.completeWith(result)
        case .done:
            break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch mode {
        case .holding:
            let bytes = unwrapInboundIn(data)
            heldBytes += bytes.readableBytes
            held.append(bytes)
        case .delivering(let sink, _):
            sink.received(unwrapInboundIn(data))
        case .done:
            break
        }
    }

    /// Writes input from this handler's place, the pipeline's last: it goes towards the socket
    /// without entering at the tail and passing through this handler as a write and a flush.
    func writeInput(_ bytes: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if case .holding = mode, heldBytes >= Self.holdLimit {
            readPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(ChannelEvent.inputClosed) = event as? ChannelEvent {
            end(.success(()))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(.success(()))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(.failure(error))
    }
}
