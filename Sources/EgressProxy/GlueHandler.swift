import NIOCore

/// One tunnel's accounting, on its event loop (both of its channels live on the same loop). It
/// reports the close once, with the bytes, the duration and the reason the proxy closed it.
final class Tunnel {
    var report: EgressTunnelReport
    let session: SessionProxy
    let observer: any EgressObserver
    let began = NIODeadline.now()
    private var lastActivity = NIODeadline.now()
    private var unflushedUp: Int64 = 0
    private var unflushedDown: Int64 = 0
    private var finished = false

    init(report: EgressTunnelReport, session: SessionProxy, observer: any EgressObserver) {
        self.report = report
        self.session = session
        self.observer = observer
    }

    /// Counts bytes; tells the observer about activity and the session's counters at most once a
    /// second, so a busy tunnel costs no lock or call per chunk.
    func moved(_ count: Int, up: Bool) {
        if up {
            report.bytesUp += Int64(count)
            unflushedUp += Int64(count)
        } else {
            report.bytesDown += Int64(count)
            unflushedDown += Int64(count)
        }
        let now = NIODeadline.now()
        if now - lastActivity >= .seconds(1) {
            lastActivity = now
            flush()
            observer.egressActivity(sessionID: report.sessionID)
        }
    }

    func closing(because reason: String) {
        if report.closeReason == nil { report.closeReason = reason }
    }

    /// Called when both channels have closed.
    func finish() {
        guard !finished else { return }
        finished = true
        flush()
        session.releaseTunnel()
        report.duration = .nanoseconds((NIODeadline.now() - began).nanoseconds)
        observer.egressClosed(report)
    }

    private func flush() {
        session.add(up: unflushedUp, down: unflushedDown)
        unflushedUp = 0
        unflushedDown = 0
    }
}

/// One half of a relay between two channels on the same event loop: what one reads, the other
/// writes, and a partner that cannot keep up stops the other from reading (backpressure through
/// writability). After the example in swift-nio's connect proxy.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let tunnel: Tunnel
    /// Reads on this side move bytes up (the client's side) or down (the destination's).
    private let upstream: Bool

    private init(tunnel: Tunnel, upstream: Bool) {
        self.tunnel = tunnel
        self.upstream = upstream
    }

    /// The client's half and the destination's half.
    static func pair(_ tunnel: Tunnel) -> (client: GlueHandler, destination: GlueHandler) {
        let client = GlueHandler(tunnel: tunnel, upstream: true)
        let destination = GlueHandler(tunnel: tunnel, upstream: false)
        client.partner = destination
        destination.partner = client
        return (client, destination)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        tunnel.moved(buffer.readableBytes, up: upstream)
        partner?.context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // Half-close: the other side may still answer.
            partner?.context?.close(mode: .output, promise: nil)
        } else if event is IdleStateHandler.IdleStateEvent {
            tunnel.closing(because: "idle")
            context.close(promise: nil)
        } else if let event = event as? TunnelClose {
            tunnel.closing(because: event.reason)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.isWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private var isWritable: Bool {
        context?.channel.isWritable ?? false
    }

    private func resumeReading() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }
}
