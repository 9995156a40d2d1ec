import Foundation
import NIOCore
import NIOWebSocket
import Synchronization
import TerminalRelay

/// The byte path of one terminal viewer, inside its WebSocket's channel pipeline.
///
/// Hummingbird hands an upgraded WebSocket to a task that reads and writes it through an
/// `NIOAsyncChannel`: a task hop for every frame each way. The terminal's output and input are
/// the daemon's hottest bytes, so this handler sits in the same pipeline, between swift-websocket's
/// frame decoder and that async channel, and moves them on the channel's event loop:
///
/// - **Output**: the terminal tells ``Waker`` that events wait (from the engine connection's
///   loop, or inline when both are on the same loop); the handler takes them from the viewer's
///   queue and writes them as frames while the channel is writable. When it is not, events wait
///   in the terminal's bounded per-viewer queue, and `channelWritabilityChanged` resumes the
///   writing; a viewer whose queue overflows gets a repaint or is closed (1008) by the terminal,
///   which never waits for it.
/// - **Input**: a complete binary frame goes straight to the terminal's attachment. Anything else
///   (text control messages, fragmented messages, control frames) passes on to the async channel,
///   where swift-websocket assembles and validates it and the controller's task handles it. Input
///   keeps its order: while a message passed on is not handled yet (a resize waiting for the
///   engine), binary frames follow it the same way; once a fragmented message has been seen, all
///   data frames take that way.
///
/// Closing stays with swift-websocket (its close handshake): the last event completes
/// ``ended``, on which the controller's task closes the WebSocket with the right code.
///
/// It handles inbound events only: its frames start here towards the socket, and the reads and
/// writes the async channel sends down do not pass through it.
final class TerminalViewerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// How a viewer's connection ends, for the controller to close it.
    enum End: Sendable {
        case exit
        case closed(ViewerCloseReason)
        /// The client went away (or the connection failed) first.
        case disconnected
    }

    /// The connection's end: completed once, on the loop.
    let ended: EventLoopPromise<End>
    private let session: String
    private let roleName: String
    private var viewer: TerminalViewer?
    private var context: ChannelHandlerContext?
    private var finished = false
    /// Data frames go to the async channel from now on (a fragmented message was seen).
    private var inputThroughTask = false
    /// Messages passed to the async channel that its task has not handled yet.
    private var messagesInTask = 0
    /// Reading stopped because the container is not reading its input.
    private var inputPaused = false
    /// A frame of the current read cycle went on to the async channel.
    private var passedReadOn = false

    init(session: String, roleName: String, eventLoop: any EventLoop) {
        self.session = session
        self.roleName = roleName
        self.ended = eventLoop.makePromise(of: End.self)
    }

    /// Adds a handler to `channel` (an upgraded WebSocket) right after the frame decoder, attaches
    /// the viewer with it as the sink, and starts writing.
    static func install(
        on channel: any Channel, terminal: SessionTerminal, role: ViewerRole, since: UInt64?, replay: ViewerReplay,
        session: String, roleName: String
    ) async throws -> (viewer: TerminalViewer, ended: EventLoopFuture<End>, handled: @Sendable () -> Void) {
        let loop = channel.eventLoop
        return try await loop.submit {
            let handler = TerminalViewerHandler(session: session, roleName: roleName, eventLoop: loop)
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try operations.addHandler(handler, position: .after(decoder.handler))
            let waker = Waker(handler: NIOLoopBound(handler, eventLoop: loop))
            let viewer = terminal.attach(role: role, since: since, replay: replay, sink: waker)
            handler.viewer = viewer
            handler.writeEvents()
            let bound = NIOLoopBound(handler, eventLoop: loop)
            let handled: @Sendable () -> Void = {
                loop.execute { bound.value.messagesInTask = max(0, bound.value.messagesInTask - 1) }
            }
            return (viewer, handler.ended.futureResult, handled)
        }.get()
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
        guard let context, let viewer, !finished else { return }
        var wrote = false
        while context.channel.isWritable || !viewer.isLive, let event = viewer.take() {
            wrote = true
            write(event, context: context)
            if finished { break }
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
            context.write(NIOAny(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: nil)
        case .exit(let code, let reason):
            writeText(TerminalController.control(["type": "exit", "code": .number(code), "reason": .string(reason)]), context)
            finish(.exit)
        case .closed(let reason):
            finish(.closed(reason))
        }
    }

    private func writeText(_ text: String, _ context: ChannelHandlerContext) {
        let data = context.channel.allocator.buffer(string: text)
        context.write(NIOAny(WebSocketFrame(fin: true, opcode: .text, data: data)), promise: nil)
    }

    private func finish(_ end: End) {
        guard !finished else { return }
        finished = true
        ended.succeed(end)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeEvents() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Input

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary where frame.fin && frame.reservedBits.isEmpty && !inputThroughTask && messagesInTask == 0:
            guard let viewer else { break }
            viewer.send(frame.unmaskedData)
            if !viewer.inputWritable { pauseInput(context: context) }
            return
        case .binary, .text, .continuation:
            if !frame.fin || frame.opcode == .continuation {
                inputThroughTask = true
            } else {
                messagesInTask += 1
            }
        default:
            break
        }
        passedReadOn = true
        context.fireChannelRead(data)
    }

    /// The end of a read cycle matters past this handler only when a frame went on: the async
    /// channel hands what it buffered in the cycle to its task then. A cycle of input frames alone
    /// (every keystroke) stops here. Reading goes on regardless: the channel asks for the next read
    /// itself.
    func channelReadComplete(context: ChannelHandlerContext) {
        guard passedReadOn else { return }
        passedReadOn = false
        context.fireChannelReadComplete()
    }

    /// Stops reading the client until the container reads its input again (checked every 10 ms:
    /// only while a container ignores its terminal).
    private func pauseInput(context: ChannelHandlerContext) {
        guard !inputPaused else { return }
        inputPaused = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        @Sendable func check() {
            let handler = bound.value
            guard let context = handler.context else { return }
            if handler.viewer?.inputWritable ?? true {
                handler.inputPaused = false
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                context.read()
            } else {
                context.eventLoop.scheduleTask(in: .milliseconds(10)) { check() }
            }
        }
        context.eventLoop.scheduleTask(in: .milliseconds(10)) { check() }
    }

    // MARK: Lifetime

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        leave()
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    /// The connection is gone: the terminal forgets the viewer at once (its slot holds the
    /// ``Waker``, which holds this handler, which holds the viewer).
    private func leave() {
        finish(.disconnected)
        viewer?.leave()
        viewer = nil
    }
}
