import Foundation
import NIOCore

/// Reads the engine's answer to an attach or exec-start request on a raw connection.
///
/// The engine answers `101 UPGRADED` (or, on old engines, `200 OK`) and then the connection
/// carries the container's stream; any other status comes with a JSON error body. Until the head
/// has arrived this handler swallows inbound bytes; after a successful upgrade it passes on those
/// that came in the same read as the head, unchanged, and leaves the pipeline, so that the rest of
/// the stream reaches the next handler directly.
final class HijackHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let maximumHeadBytes = 64 * 1024
    static let maximumErrorBodyBytes = 64 * 1024

    private enum State {
        case awaitingHead(ByteBuffer)
        case readingErrorBody(status: Int, body: ByteBuffer, expected: Int?)
        case upgraded
        case failed
    }

    private var state: State = .awaitingHead(ByteBuffer())
    private let promise: EventLoopPromise<Void>
    private let method: String
    private let path: String
    private let timeout: TimeAmount
    private var timeoutTask: Scheduled<Void>?

    init(promise: EventLoopPromise<Void>, method: String, path: String, timeout: TimeAmount) {
        self.promise = promise
        self.method = method
        self.path = path
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timeoutTask = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            switch handler.state {
            case .awaitingHead, .readingErrorBody:
                handler.fail(
                    context: context, code: .timeout,
                    detail: "the engine did not answer the upgrade within \(handler.timeout.nanoseconds / 1_000_000) ms")
            case .upgraded, .failed:
                break
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeoutTask?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch state {
        case .upgraded:
            context.fireChannelRead(data)
        case .failed:
            break
        case .awaitingHead(var head):
            head.writeBuffer(&bytes)
            guard let end = head.readableBytesView.firstRange(of: [13, 10, 13, 10]) else {
                if head.readableBytes > Self.maximumHeadBytes {
                    fail(context: context, code: .protocolViolation, detail: "the engine's response head exceeds \(Self.maximumHeadBytes) bytes")
                } else {
                    state = .awaitingHead(head)
                }
                return
            }
            // Copied out: an array's bytes are read far faster than a ByteBufferView's.
            let headBytes = Array(head.readableBytesView[..<end.upperBound])
            let parsed = Self.parseHead(headBytes)
            guard let status = parsed.status else {
                fail(
                    context: context, code: .protocolViolation,
                    detail: "the engine's answer is not HTTP", body: String(decoding: headBytes.prefix(256), as: UTF8.self))
                return
            }
            head.moveReaderIndex(to: end.upperBound)
            if status == 101 || status == 200 {
                state = .upgraded
                timeoutTask?.cancel()
                promise.succeed()
                if head.readableBytes > 0 {
                    context.fireChannelRead(wrapInboundOut(head))
                }
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            } else {
                state = .readingErrorBody(status: status, body: head, expected: parsed.contentLength)
                finishErrorBodyIfComplete(context: context)
            }
        case .readingErrorBody(let status, var body, let expected):
            if body.readableBytes < Self.maximumErrorBodyBytes { body.writeBuffer(&bytes) }
            state = .readingErrorBody(status: status, body: body, expected: expected)
            finishErrorBodyIfComplete(context: context)
        }
    }

    private func finishErrorBodyIfComplete(context: ChannelHandlerContext) {
        guard case .readingErrorBody(let status, let body, let expected) = state else { return }
        let complete = expected.map { body.readableBytes >= $0 } ?? false
        if complete || body.readableBytes >= Self.maximumErrorBodyBytes {
            failWithResponse(context: context, status: status, body: body)
        }
    }

    private func failWithResponse(context: ChannelHandlerContext, status: Int, body: ByteBuffer) {
        state = .failed
        timeoutTask?.cancel()
        let error = DockerError.fromResponse(
            method: method, path: path, status: status, body: Array(body.readableBytesView), plainText: true)
        promise.fail(error)
        context.close(promise: nil)
    }

    private func fail(context: ChannelHandlerContext, code: DockerError.Code, detail: String, body: String? = nil) {
        state = .failed
        timeoutTask?.cancel()
        promise.fail(DockerError(code: code, method: method, path: path, detail: detail, body: body))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        endOfInput(context: context)
        context.fireChannelInactive()
    }

    /// With half-closure allowed (the stream needs it), the engine closing its side arrives as
    /// `inputClosed` rather than as the channel going inactive: an error answer without a length
    /// ends there.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(ChannelEvent.inputClosed) = event as? ChannelEvent {
            endOfInput(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func endOfInput(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead:
            fail(context: context, code: .protocolViolation, detail: "the engine closed the connection before answering")
        case .readingErrorBody(let status, let body, _):
            failWithResponse(context: context, status: status, body: body)
        case .upgraded, .failed:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .awaitingHead, .readingErrorBody:
            fail(context: context, code: .transport, detail: "connection error during the upgrade: \(error)")
        case .upgraded, .failed:
            context.fireErrorCaught(error)
        }
    }

    /// The status code and `Content-Length` of an HTTP/1.x response head.
    static func parseHead(_ head: some BidirectionalCollection<UInt8>) -> (status: Int?, contentLength: Int?) {
        let lines = head.split(separator: UInt8(ascii: "\n"))
        guard let statusLine = lines.first, statusLine.starts(with: "HTTP/1.".utf8), let status = HTTPHead.statusCode(statusLine)
        else { return (nil, nil) }
        var contentLength: Int?
        for line in lines.dropFirst() {
            if let field = HTTPHead.field(line), field.name == "content-length" { contentLength = Int(field.value) }
        }
        return (status, contentLength)
    }
}

extension ByteBufferView {
    func firstRange(of pattern: [UInt8]) -> Range<Int>? {
        guard count >= pattern.count else { return nil }
        var index = startIndex
        let last = endIndex - pattern.count
        while index <= last {
            if self[index] == pattern[0] && self[index..<(index + pattern.count)].elementsEqual(pattern) {
                return index..<(index + pattern.count)
            }
            index += 1
        }
        return nil
    }
}
