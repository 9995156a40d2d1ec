#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

extension DockerClient {
    /// What to attach to.
    public struct AttachOptions: Sendable {
        public var stdin: Bool
        public var stdout: Bool
        public var stderr: Bool
        /// Replay the output the engine kept before attaching.
        public var logs: Bool
        /// The engine's detach sequence; the engine uses `ctrl-p,ctrl-q` when this is nil.
        public var detachKeys: String?

        public init(stdin: Bool = true, stdout: Bool = true, stderr: Bool = true, logs: Bool = false, detachKeys: String? = nil) {
            self.stdin = stdin
            self.stdout = stdout
            self.stderr = stderr
            self.logs = logs
            self.detachKeys = detachKeys
        }
    }

    /// Attaches to a container's stdio. Maps to `POST /containers/{id}/attach` with `Upgrade: tcp`.
    ///
    /// - Parameter tty: whether the container was created with `Tty`; decides the output format.
    public func attachContainer(_ id: String, tty: Bool, options: AttachOptions = .init()) async throws -> HijackedStream {
        try await hijack(path: try attachPath(id, options), body: nil, tty: tty)
    }

    /// Attaches to a TTY container's stdin and output for the terminal relay: a ``TerminalStream``,
    /// which holds the output until it is delivered.
    ///
    /// - Parameter logs: replay what the container printed before, then the live stream.
    public func attachTerminal(_ id: String, logs: Bool = false) async throws -> TerminalStream {
        let options = AttachOptions(stdin: true, stdout: true, stderr: true, logs: logs)
        let path = try attachPath(id, options)
        return try await observe(method: "POST", path: path) {
            let (channel, _) = try await hijackUnobserved(path: path, body: nil) { try TerminalStream.adopting($0) }
            return channel
        }
    }

    private func attachPath(_ id: String, _ options: AttachOptions) throws -> String {
        let flag = { (value: Bool) in value ? "1" : "0" }
        return self.path(
            "/containers/\(try Self.segment(id, method: "POST", what: "container"))/attach",
            [
                ("stream", "1"), ("stdin", flag(options.stdin)), ("stdout", flag(options.stdout)),
                ("stderr", flag(options.stderr)), ("logs", flag(options.logs)), ("detachKeys", options.detachKeys),
            ])
    }

    /// Opens a raw connection through libcurl, sends `request`, and hands the connection to a
    /// SwiftNIO channel once the engine has answered `101 UPGRADED`.
    func hijack(path: String, body: [UInt8]?, tty: Bool) async throws -> HijackedStream {
        try await observe(method: "POST", path: path) {
            let (channel, _) = try await hijackUnobserved(path: path, body: body) { channel in
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            }
            return HijackedStream(channel: channel, tty: tty)
        }
    }

    /// The connection behind ``hijack(path:body:tty:)``: `wrap` adds what reads the connection
    /// once the handshake is done (on the event loop, before anything is read).
    private func hijackUnobserved<Wrapped: Sendable>(
        path: String, body: [UInt8]?, wrap: @escaping @Sendable (any Channel) throws -> Wrapped
    ) async throws -> (Wrapped, any Channel) {
        let method = "POST"
        let socket = try await transport.connect(method: method, path: path)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(configuration.endpoint.hostHeader)\r\n"
        head += "User-Agent: sandcastle\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        } else {
            head += "Content-Type: text/plain\r\nContent-Length: 0\r\n"
        }
        head += "\r\n"
        var request = ByteBuffer(string: head)
        if let body { request.writeBytes(body) }

        let handshakeTimeout = configuration.requestTimeout
        let (wrapped, channel, upgraded): (Wrapped, any Channel, EventLoopFuture<Void>)
        do {
            (wrapped, channel, upgraded) = try await ClientBootstrap(group: eventLoopGroup)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .withConnectedSocket(socket) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let promise = channel.eventLoop.makePromise(of: Void.self)
                        try channel.pipeline.syncOperations.addHandler(
                            HijackHandshakeHandler(
                                promise: promise, method: method, path: path,
                                timeout: .milliseconds(handshakeTimeout.milliseconds)))
                        return (try wrap(channel), channel, promise.futureResult)
                    }
                }
        } catch {
            close(socket)
            throw DockerError(code: .transport, method: method, path: path, detail: "cannot set up the attach connection: \(error)")
        }
        do {
            try await channel.writeAndFlush(request)
            try await withTaskCancellationHandler {
                try await upgraded.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            try? await channel.close()
            if Task.isCancelled {
                throw DockerError(code: .cancelled, method: method, path: path, detail: "the attach was cancelled")
            }
            // A failed write is usually the consequence of what the handshake saw (a timeout or the
            // engine's answer, after which the channel closed): report that.
            do {
                try await upgraded.get()
            } catch let handshakeError as DockerError {
                throw handshakeError
            } catch {}
            if let error = error as? DockerError { throw error }
            throw DockerError(code: .transport, method: method, path: path, detail: "the attach request failed: \(error)")
        }
        return (wrapped, channel)
    }
}
