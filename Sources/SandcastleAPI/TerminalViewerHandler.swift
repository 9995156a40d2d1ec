import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import TerminalRelay

/// One terminal viewer's WebSocket, whole, on its connection's event loop: the viewer's bytes and
/// the WebSocket protocol around them, with no task per frame.
///
/// It sits last in the pipeline NIO's upgrader leaves (frame decoder, protocol error handler,
/// frame encoder; see ``TerminalRoute``):
///
/// - **Output**: the terminal tells ``Waker`` that events wait (from the engine connection's
///   loop, or inline when both are on the same loop); the handler takes them from the viewer's
///   queue and writes them as frames while the channel is writable. When it is not, events wait
///   in the terminal's bounded per-viewer queue, and `channelWritabilityChanged` resumes the
///   writing; a viewer whose queue overflows gets a repaint or is closed (1008) by the terminal,
///   which never waits for it.
/// - **Input**: a binary message goes straight to the terminal's attachment. A text message is a
///   control message: a resize or a signal runs as a task (it waits for the engine), and the
///   input after it waits until it is done, with reading paused, so typed keys after a resize see
///   the new size. A container that does not read its input pauses reading too.
/// - **The protocol**: fragmented messages are assembled up to the frame limit (1009 beyond it),
///   text must be UTF-8 (1007), frames out of sequence, reserved bits and opcodes get 1002; pings
///   are answered, a ping is sent every `pingInterval` and a client that has not answered the last
///   one is closed (1001). The decoder's own refusals (an oversized frame, a fragmented or long
///   control frame) are NIO's `WebSocketProtocolErrorHandler`'s.
/// - **The close**: the viewer's last event closes with its code (an exit 1000, a viewer too slow
///   1008, the daemon shutting down 1001); the client's close frame is answered. The connection
///   closes once both close frames are through, or `closeTimeout` after ours.
final class TerminalViewerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Configuration: Sendable {
        /// The largest message a client may send, assembled from its frames.
        var maxMessageBytes: Int
        /// How often the client is pinged (timed by a task's sleep, off the event loop).
        var pingInterval: Duration
        var closeTimeout: Duration
    }

    private enum State {
        case open
        /// Our close frame is sent; the client's is awaited.
        case closing
        case closed
    }

    /// A whole message from the client.
    private struct Message {
        var isText: Bool
        var data: ByteBuffer
    }

    private let session: String
    private let roleName: String
    private let configuration: Configuration
    private let logger: Logger
    private var viewer: TerminalViewer?
    private var context: ChannelHandlerContext?
    private var state = State.open
    /// A fragmented message being assembled.
    private var partial: Message?
    /// Messages that arrived while a control message was being handled.
    private var waiting = CircularBuffer<Message>()
    private var controlInFlight = false
    /// Reading stopped because the container is not reading its input.
    private var inputPaused = false
    private var reading = true
    /// The payload of the last ping sent, until its pong arrives.
    private var unansweredPing: ByteBuffer?
    private var pings: Task<Void, Never>?
    private var closeTimer: Scheduled<Void>?

    private init(session: String, roleName: String, configuration: Configuration, logger: Logger) {
        self.session = session
        self.roleName = roleName
        self.configuration = configuration
        self.logger = logger
    }

    /// Adds a handler to `channel`, just upgraded, and attaches the viewer to `terminal` with it
    /// as the sink; with no terminal (the daemon is shutting down) the handler closes at once
    /// with 1001. On the channel's loop.
    static func install(
        on channel: any Channel, terminal: SessionTerminal?, role: ViewerRole, since: UInt64?, replay: ViewerReplay,
        session: String, roleName: String, configuration: Configuration, logger: Logger
    ) throws {
        let loop = channel.eventLoop
        let handler = TerminalViewerHandler(session: session, roleName: roleName, configuration: configuration, logger: logger)
        try channel.pipeline.syncOperations.addHandler(handler)
        guard let terminal else {
            handler.close(.goingAway, reason: "the daemon is shutting down")
            return
        }
        let waker = Waker(handler: NIOLoopBound(handler, eventLoop: loop))
        handler.viewer = terminal.attach(role: role, since: since, replay: replay, sink: waker)
        // The pings are timed by a task's sleep (dispatch's timer), not by a task scheduled on
        // the loop: a loop with a scheduled task looks at its schedule and re-arms its timer on
        // every tick, which cost each echo round trip about 2,900 instructions more.
        let bound = NIOLoopBound(handler, eventLoop: loop)
        let interval = configuration.pingInterval
        handler.pings = Task {
            while (try? await Task.sleep(for: interval)) != nil {
                loop.execute { bound.value.ping() }
            }
        }
        handler.writeEvents()
    }

    /// Tells the handler's loop that events wait: inline when already on it, else one scheduled
    /// run for any number of calls made before it starts.
    final class Waker: ViewerSink {
        let handler: NIOLoopBound<TerminalViewerHandler>
        private let scheduled = Atomic<Bool>(false)

        init(handler: NIOLoopBound<TerminalViewerHandler>) {
            self.handler = handler
        }

        func eventsAvailable() {
            let loop = handler.eventLoop
            if loop.inEventLoop {
                handler.value.writeEvents()
                return
            }
            guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
            loop.execute {
                self.scheduled.store(false, ordering: .releasing)
                self.handler.value.writeEvents()
            }
        }
    }

    // MARK: Output

    /// Writes the waiting events while the channel takes them (and the last one regardless).
    func writeEvents() {
        guard let context, let viewer, case .open = state else { return }
        var wrote = false
        while context.channel.isWritable || !viewer.isLive, let event = viewer.take() {
            wrote = true
            write(event, context: context)
            guard case .open = state else { return }
        }
        if wrote { context.flush() }
    }

    private func write(_ event: TerminalEvent, context: ChannelHandlerContext) {
        switch event {
        case .hello(let offset):
            let hello = TerminalController.control(
                ["type": "hello", "session": .string(session), "role": .string(roleName), "offset": .number(offset)])
            writeText(hello, context)
        case .reset(let offset):
            writeText(TerminalController.control(["type": "reset", "offset": .number(offset)]), context)
        case .output(let bytes, _), .repaint(let bytes, _):
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: nil)
        case .exit(let code, let reason):
            writeText(TerminalController.control(["type": "exit", "code": .number(code), "reason": .string(reason)]), context)
            close(.normalClosure, reason: "session ended")
        case .closed(.overflow):
            close(.policyViolation, reason: "viewer too slow: output overflowed its queue")
        case .closed(.shutdown):
            close(.goingAway, reason: "the daemon is shutting down")
        case .closed(.detached):
            close(.normalClosure, reason: nil)
        }
    }

    private func writeText(_ text: String, _ context: ChannelHandlerContext) {
        let data = context.channel.allocator.buffer(string: text)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: data)), promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeEvents() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Input

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch state {
        case .open:
            break
        case .closing:
            // Only the client's close matters now: it ends the connection.
            if frame.opcode == .connectionClose { finishClosing() }
            return
        case .closed:
            return
        }
        switch frame.opcode {
        case .binary, .text, .continuation:
            guard frame.reservedBits.isEmpty else { return refuse(.protocolError, "a reserved bit set without an extension") }
            assemble(frame)
        case .connectionClose:
            receivedClose(frame, context: context)
        case .ping:
            // (A fragmented or long control frame never gets here: the decoder refuses it.)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            if let ping = unansweredPing, frame.unmaskedData == ping { unansweredPing = nil }
        default:
            refuse(.protocolError, "reserved opcode \(frame.opcode)")
        }
    }

    private func assemble(_ frame: WebSocketFrame) {
        if frame.opcode == .continuation {
            guard var message = partial else { return refuse(.protocolError, "a continuation frame with no message to continue") }
            guard message.data.readableBytes + frame.length <= configuration.maxMessageBytes else {
                return refuse(.messageTooLarge, "a message over \(configuration.maxMessageBytes) bytes")
            }
            partial = nil
            var data = frame.unmaskedData
            message.data.writeBuffer(&data)
            if frame.fin { received(message) } else { partial = message }
        } else {
            guard partial == nil else { return refuse(.protocolError, "a new message inside a fragmented one") }
            let message = Message(isText: frame.opcode == .text, data: frame.unmaskedData)
            if frame.fin { received(message) } else { partial = message }
        }
    }

    /// A whole message, in the order it came.
    private func received(_ message: Message) {
        if controlInFlight || !waiting.isEmpty {
            waiting.append(message)
        } else {
            handle(message)
        }
    }

    private func handle(_ message: Message) {
        guard let viewer, case .open = state else { return }
        guard message.isText else {
            viewer.send(message.data)
            if !viewer.inputWritable { pauseInput() }
            return
        }
        guard let text = String(validating: message.data.readableBytesView, as: UTF8.self) else {
            return refuse(.dataInconsistentWithMessage, "a text message that is not UTF-8")
        }
        switch TerminalControl.parse(text) {
        case .resize(let columns, let rows):
            runControl { await viewer.resize(columns: columns, rows: rows) }
        case .signal(let signal):
            runControl { await viewer.signal(signal) }
        case .invalid(let why):
            guard let context else { return }
            writeText(TerminalController.control(["type": "error", "message": .string(why)]), context)
            context.flush()
        }
    }

    /// Runs a control message that waits for the engine; input after it waits until it is done.
    private func runControl(_ body: @escaping @Sendable () async -> Void) {
        guard let context else { return }
        controlInFlight = true
        updateReading()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            await body()
            loop.execute { bound.value.controlDone() }
        }
    }

    private func controlDone() {
        controlInFlight = false
        while !controlInFlight, let message = waiting.popFirst() {
            handle(message)
        }
        updateReading()
    }

    /// Stops reading the client until the container reads its input again (checked every 10 ms:
    /// only while a container ignores its terminal).
    private func pauseInput() {
        guard !inputPaused, let context else { return }
        inputPaused = true
        updateReading()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        @Sendable func check() {
            let handler = bound.value
            guard let context = handler.context else { return }
            if handler.viewer?.inputWritable ?? true {
                handler.inputPaused = false
                handler.updateReading()
            } else {
                context.eventLoop.scheduleTask(in: .milliseconds(10)) { check() }
            }
        }
        context.eventLoop.scheduleTask(in: .milliseconds(10)) { check() }
    }

    /// Reads the client only while its input can go on.
    private func updateReading() {
        guard let context else { return }
        let read = !inputPaused && !controlInFlight
        guard read != reading else { return }
        reading = read
        context.channel.setOption(ChannelOptions.autoRead, value: read).whenComplete { _ in }
        if read { context.read() }
    }

    // MARK: Closing

    /// A client's frame the protocol does not allow: closed with `code`.
    private func refuse(_ code: WebSocketErrorCode, _ why: String) {
        logger.info("terminal input refused", metadata: ["session.id": "\(session)", "reason": "\(why)", "close": "\(code)"])
        close(code, reason: nil)
    }

    /// Sends our close frame and waits for the client's, at most `closeTimeout`. The viewer leaves.
    private func close(_ code: WebSocketErrorCode, reason: String?) {
        guard case .open = state, let context else { return }
        state = .closing
        stopViewing()
        context.writeAndFlush(wrapOutboundOut(Self.closeFrame(code, reason: reason, allocator: context.channel.allocator)), promise: nil)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        closeTimer = context.eventLoop.scheduleTask(in: TimeAmount(configuration.closeTimeout)) { bound.value.finishClosing() }
    }

    /// The client's close: answered with the same code when it is one a client may send (1002
    /// when not), and the connection ends.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        state = .closed
        stopViewing()
        var data = frame.unmaskedData
        var answer = WebSocketErrorCode.normalClosure
        if !frame.reservedBits.isEmpty || data.readableBytes == 1 {
            answer = .protocolError
        } else if let code = data.readInteger(as: UInt16.self) {
            let allowed = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011].contains(code) || (3000...4999).contains(code)
            if !allowed || String(validating: data.readableBytesView, as: UTF8.self) == nil { answer = .protocolError }
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(Self.closeFrame(answer, reason: nil, allocator: context.channel.allocator)))
            .whenComplete { _ in bound.value.close(promise: nil) }
    }

    private func finishClosing() {
        state = .closed
        closeTimer?.cancel()
        context?.close(promise: nil)
    }

    /// Sends a ping, or closes a client that has not answered the last one (1001).
    private func ping() {
        guard case .open = state, let context else { return }
        if unansweredPing != nil {
            close(.goingAway, reason: "Ping timeout")
            finishClosing()
            return
        }
        var data = context.channel.allocator.buffer(capacity: 16)
        for _ in 0..<2 { data.writeInteger(UInt64.random(in: .min ... .max)) }
        unansweredPing = data
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: data)), promise: nil)
    }

    static func closeFrame(_ code: WebSocketErrorCode, reason: String?, allocator: ByteBufferAllocator) -> WebSocketFrame {
        var data = allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
        data.write(webSocketErrorCode: code)
        if let reason { data.writeString(reason) }
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }

    /// The viewer leaves the terminal at once, and the pings stop.
    private func stopViewing() {
        pings?.cancel()
        pings = nil
        viewer?.leave()
        viewer = nil
    }

    // MARK: Lifetime

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopViewing()
        closeTimer?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        stopViewing()
        closeTimer?.cancel()
        context.fireChannelInactive()
    }

    /// A client that half-closes sends no close frame: the connection ends.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("terminal connection failed", metadata: ["session.id": "\(session)", "error": "\(error)"])
        context.close(promise: nil)
    }
}
