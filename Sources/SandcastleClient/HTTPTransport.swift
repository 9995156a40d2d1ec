import NIOCore
import NIOHTTP1
import NIOPosix

/// HTTP/1.1 to the daemon, on SwiftNIO's event loops (nothing here blocks a thread): one
/// connection per request, or several requests on one connection (``withConnection(_:)``). The
/// same code serves the unix socket and TCP.
///
/// Why not the engine client's libcurl transport: it is built around `DockerError` and the
/// engine's endpoints, and the terminal needs a WebSocket that libcurl (7.88, Debian 12) does not
/// offer; one NIO transport serves both, and NIO is already in every target's graph.
struct HTTPTransport: Sendable {
    let address: DaemonAddress
    let group: any EventLoopGroup

    struct Request: Sendable {
        var method: HTTPMethod
        var path: String
        var headers: [(String, String)] = []
        var body: [UInt8]? = nil
        /// A body streamed with chunked transfer encoding instead: called until it returns nil.
        var upload: (@Sendable () async throws -> ByteBuffer?)? = nil
    }

    /// Sends `request` on a connection of its own; `onHead` sees the status and headers, `onBody`
    /// each body chunk as it arrives (so a stream can be followed). Returns when the response has
    /// ended.
    func exchange(
        _ request: Request, onHead: (Int, HTTPHeaders) async throws -> Void, onBody: (ByteBuffer) async throws -> Void
    ) async throws {
        try await withConnection { connection in
            try await connection.exchange(request, keepAlive: false, onHead: onHead, onBody: onBody)
        }
    }

    /// Runs `body` with one connection that its requests share (HTTP/1.1 keep-alive), then closes
    /// it.
    func withConnection<T>(_ body: (HTTPConnection) async throws -> T) async throws -> T {
        let channel = try await address.connect(group: group) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
        let hostHeader = self.hostHeader
        do {
            return try await channel.executeThenClose { inbound, outbound in
                try await body(HTTPConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound, hostHeader: hostHeader))
            }
        } catch let error as SandcastleClientError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw SandcastleClientError.protocolViolation("\(error)")
        }
    }

    var hostHeader: String {
        switch address {
        case .unixSocket: "localhost"
        case .tcp(let host, let port): "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        }
    }
}

/// One open connection to the daemon: requests go one after another, each answered in full
/// before the next is sent. Lives only inside ``HTTPTransport/withConnection(_:)``.
final class HTTPConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    private let hostHeader: String
    /// The daemon said it closes the connection after its answer (or closed it): no more requests.
    private(set) var isClosed = false

    init(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, hostHeader: String
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.hostHeader = hostHeader
    }

    /// Sends `request` and reads its whole answer; without `keepAlive` the request asks the
    /// daemon to close the connection after it.
    func exchange(
        _ request: HTTPTransport.Request, keepAlive: Bool, onHead: (Int, HTTPHeaders) async throws -> Void,
        onBody: (ByteBuffer) async throws -> Void
    ) async throws {
        guard !isClosed else {
            throw SandcastleClientError.protocolViolation("\(request.method) \(request.path): the connection was closed by the daemon")
        }
        do {
            try await send(request, keepAlive: keepAlive, onHead: onHead, onBody: onBody)
        } catch let error as SandcastleClientError {
            isClosed = true
            throw error
        } catch is CancellationError {
            isClosed = true
            throw CancellationError()
        } catch {
            isClosed = true
            throw SandcastleClientError.protocolViolation("\(request.method) \(request.path): \(error)")
        }
    }

    private func send(
        _ request: HTTPTransport.Request, keepAlive: Bool, onHead: (Int, HTTPHeaders) async throws -> Void,
        onBody: (ByteBuffer) async throws -> Void
    ) async throws {
        var headers = HTTPHeaders(request.headers)
        headers.replaceOrAdd(name: "Host", value: hostHeader)
        headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        // A streamed upload the daemon refuses part-way: its answer is still read below.
        var uploadFailure: (any Error)?
        if let upload = request.upload {
            headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
            do {
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: headers)))
                while let chunk = try await upload() {
                    if chunk.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(chunk))) }
                }
                try await outbound.write(.end(nil))
            } catch {
                uploadFailure = error
            }
        } else {
            headers.replaceOrAdd(name: "Content-Length", value: String(request.body?.count ?? 0))
            // One write: the daemon may answer and close as soon as it has the head, and a
            // later write of the (empty) end would then fail on the closed channel.
            var parts: [HTTPClientRequestPart] = [
                .head(HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: headers))
            ]
            if let body = request.body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
        }
        var sawHead = false
        while let part = try await inbound.next() {
            switch part {
            case .head(let head):
                sawHead = true
                if !keepAlive || !head.isKeepAlive { isClosed = true }
                try await onHead(Int(head.status.code), head.headers)
            case .body(let buffer):
                try await onBody(buffer)
            case .end:
                return
            }
        }
        isClosed = true
        if !sawHead, let uploadFailure { throw uploadFailure }
        if !sawHead { throw SandcastleClientError.protocolViolation("the daemon closed the connection without answering \(request.method) \(request.path)") }
    }
}
