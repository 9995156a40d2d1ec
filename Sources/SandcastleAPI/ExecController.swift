import AccessControl
import DockerEngine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Sessions

/// The subprotocol of the exec WebSocket (README, "Running commands in a session").
let execSubprotocol = "sandcastle.exec.v1"

/// `POST /v1/sessions/{id}/exec`: runs a command in a running session and answers with its capped
/// output and exit code; `GET /v1/sessions/{id}/exec` upgraded to a WebSocket streams it instead.
/// Both need the `session:exec` permission (developer and admin keys; viewers cannot).
struct ExecController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.post("sessions/{id}/exec", use: runCaptured)
        group.get("sessions/{id}/exec") { request, context -> Response in
            try context.require(.sessionExec)
            throw APIError(.upgradeRequired, "upgrade_required", "this is a WebSocket endpoint: connect with subprotocol \(execSubprotocol)")
        }
    }

    var execs: SessionExecs { dependencies.execs }

    // MARK: JSON mode

    @Sendable func runCaptured(request: Request, context: SandcastleRequestContext) async throws -> Response {
        let principal = try context.require(.sessionExec)
        let id = try context.parameters.require("id")
        try SessionsController.checkID(id)
        let data = try await request.body.collect(upTo: dependencies.settings.maxBodyBytes)
        let body = try ExecRequestBody.decode(Data(data.readableBytesView))
        let execRequest = try body.request(streaming: false)
        let stdin = try body.stdinBytes()
        let cap = body.maxOutputBytes ?? ExecRequestBody.defaultMaxOutputBytes
        let (captured, exit, execID) = try await Self.mapped {
            let (result, exit) = try await execs.run(session: id, execRequest, by: principal.name) { io in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if let stdin {
                        group.addTask {
                            try await io.input.write(stdin)
                            io.input.closeWrite()
                        }
                    }
                    var capture = (stdout: CappedOutput(cap: cap), stderr: CappedOutput(cap: cap))
                    var demultiplexer = StreamDemultiplexer()
                    for try await chunk in io.output {
                        for frame in try demultiplexer.feed(chunk) {
                            if frame.stream == .stderr { capture.stderr.append(frame.payload) } else { capture.stdout.append(frame.payload) }
                        }
                    }
                    try demultiplexer.finish()
                    group.cancelAll()
                    return (capture, io.id)
                }
            }
            return (result.0, exit, result.1)
        }
        let base64 = body.encoding == "base64"
        return try json(
            ExecResultBody(
                exec: execID, exitCode: exit.exitCode, timedOut: exit.timedOut, durationMs: exit.duration.milliseconds,
                encoding: base64 ? "base64" : "utf8",
                stdout: captured.stdout.text(base64: base64), stderr: captured.stderr.text(base64: base64),
                stdoutBytes: captured.stdout.total, stderrBytes: captured.stderr.total,
                stdoutTruncated: captured.stdout.truncated, stderrTruncated: captured.stderr.truncated),
            context: context)
    }

    /// Runs `body`, turning the exec layer's refusals into API errors.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ExecError {
            throw apiError(error)
        }
    }

    static func apiError(_ error: ExecError) -> APIError {
        switch error.code {
        case .notRunning: APIError(.conflict, "conflict", error.message)
        case .tooManyExecs: APIError(.tooManyRequests, "too_many_execs", error.message)
        case .invalid: APIError.invalid(error.message)
        case .unsupported: APIError(.notImplemented, "not_implemented", error.message)
        case .engine: APIError(.badGateway, "engine_error", error.message)
        }
    }

    // MARK: WebSocket mode

    struct Grant: WebSocketGrant {
        var session: String
        var principal: Principal
        var negotiatedSubprotocol: Bool
    }

    /// Checks the API key (`Authorization: Bearer` or subprotocol `bearer.<key>`), its permission,
    /// the rate limits and the session id before the upgrade.
    func authorize(_ request: Request, context: SandcastleRequestContext) throws -> Grant {
        let id = sessionID(inSubresourcePath: request.uri.path)
        try SessionsController.checkID(id)
        if let origin = request.headers.value(.origin), !dependencies.settings.allowedOrigins.contains(origin) {
            dependencies.metrics.rejections("origin")
            throw APIError.forbidden("origin \(origin) is not allowed to run commands")
        }
        let offered = request.headers.value(.secWebSocketProtocol).map(offeredSubprotocols(secWebSocketProtocol:)) ?? []
        let key = request.headers.value(.authorization).flatMap(parseBearer(authorizationHeader:))
            ?? parseBearerSubprotocol(offered: offered)
        let principal = key.flatMap { dependencies.keyring.authenticate(presentedKey: $0) }
        if case .limited(_, let retryAfter) = dependencies.limits.take(apiKeyName: principal?.name, address: context.clientAddress) {
            dependencies.metrics.rejections("rate_limit")
            var error = APIError(.tooManyRequests, "rate_limited", "too many requests; retry after \(retryAfter) s")
            error.headers[.retryAfter] = String(retryAfter)
            throw error
        }
        guard let principal else {
            dependencies.metrics.rejections("unauthenticated")
            throw APIError.unauthenticated
        }
        guard principal.permits(.sessionExec) else {
            throw APIError.forbidden("the key \(principal.name) (\(principal.role.rawValue)) lacks \(Permission.sessionExec.rawValue)")
        }
        let negotiated = offered.contains { $0 == execSubprotocol }
        if !offered.isEmpty, !negotiated {
            throw APIError.invalid("offer the subprotocol \(execSubprotocol)")
        }
        return Grant(session: id, principal: principal, negotiatedSubprotocol: negotiated)
    }

    /// The client left before the command ended: the exec layer kills the process.
    struct ClientLeft: Error {}

    /// One exec over the WebSocket: a `start` message from the client, then output frames out
    /// (binary, first byte 1 stdout or 2 stderr), stdin frames in, and an `exit` message at the end.
    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, grant: Grant, logger: Logger) async throws {
        var messages = inbound.messages(maxSize: dependencies.settings.maxFrameBytes).makeAsyncIterator()
        let execRequest: ExecRequest
        let size: (cols: Int, rows: Int)?
        do {
            guard case .text(let text) = try await messages.next() else {
                throw APIError.invalid("the first message must be the start message (JSON text)")
            }
            let body = try ExecRequestBody.decode(Data(text.utf8))
            guard body.type == nil || body.type == "start" else { throw APIError.invalid("the first message must have type start") }
            execRequest = try body.request(streaming: true)
            if let cols = body.cols, let rows = body.rows { size = (cols, rows) } else { size = nil }
        } catch {
            await Self.end(outbound, APIError.from(error), closing: .policyViolation, reason: "invalid start message")
            return
        }
        let maxFrame = dependencies.settings.maxFrameBytes
        let execs = execs
        let inbound = HandedOver(iterator: messages)
        do {
            // A shutdown ends the command (the exec layer kills what its client no longer reads):
            // nobody would be left to hear its exit.
            let exit = try await dependencies.webSocketConnections.untilGoingAway {
                try await Self.mapped {
                    try await execs.run(session: grant.session, execRequest, by: grant.principal.name) { io in
                        try await outbound.write(.text(TerminalController.control(["type": "started", "exec": .string(io.id), "tty": .bool(io.tty)])))
                        if io.tty, let size { try? await io.resize(rows: size.rows, columns: size.cols) }
                        try await Self.relay(io, inbound: inbound, outbound: outbound, stdin: execRequest.stdin, maxFrame: maxFrame)
                    }.1
                }
            }
            try await outbound.write(
                .text(
                    TerminalController.control([
                        "type": "exit", "exitCode": .number(exit.exitCode), "timedOut": .bool(exit.timedOut),
                        "durationMs": .number(exit.duration.milliseconds),
                    ])))
            try await outbound.close(.normalClosure, reason: "exited")
        } catch is ClientLeft {
            return
        } catch is DaemonGoingAway {
            let goingAway = APIError(
                .serviceUnavailable, "shutting_down",
                "the daemon is shutting down and ended the command; run it again once the daemon is back")
            await Self.end(outbound, goingAway, closing: .goingAway, reason: "daemon shutting down")
        } catch {
            logger.info("exec ended with an error", metadata: ["session.id": "\(grant.session)", "error": "\(error)"])
            await Self.end(outbound, APIError.from(error), closing: .unexpectedServerError, reason: "exec failed")
        }
    }

    /// Ends an exec's WebSocket with an error message (`{"type":"error","code","message"}`) and
    /// the close code that says what the client should do.
    static func end(_ outbound: WebSocketOutboundWriter, _ error: APIError, closing code: WebSocketErrorCode, reason: String) async {
        try? await outbound.write(.text(TerminalController.control(["type": "error", "code": .string(error.code), "message": .string(error.message)])))
        try? await outbound.close(code, reason: reason)
    }

    /// Output out and input in until the output ends (normal) or the client closes (``ClientLeft``).
    static func relay(
        _ io: ExecIO, inbound: HandedOver, outbound: WebSocketOutboundWriter, stdin: Bool,
        maxFrame: Int
    ) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await forwardOutput(io, to: outbound, maxFrame: maxFrame)
                return true
            }
            group.addTask {
                var messages = inbound.iterator
                var stdinOpen = stdin
                while let message = try await messages.next() {
                    switch message {
                    case .binary(let bytes):
                        if stdinOpen { try await io.input.write(bytes) }
                    case .text(let text):
                        switch ExecControl.parse(text) {
                        case .eof:
                            if stdinOpen { io.input.closeWrite() }
                            stdinOpen = false
                        case .resize(let columns, let rows):
                            if io.tty { try? await io.resize(rows: rows, columns: columns) }
                        case .invalid(let why):
                            try await outbound.write(.text(TerminalController.control(["type": "error", "message": .string(why)])))
                        }
                    }
                }
                return false
            }
            defer { group.cancelAll() }
            guard try await group.next() == true else { throw ClientLeft() }
        }
    }

    /// Output frames: with a TTY the raw bytes tagged stdout; without one the engine's frames,
    /// each tagged with its stream, split to fit the WebSocket's frame limit.
    static func forwardOutput(_ io: ExecIO, to outbound: WebSocketOutboundWriter, maxFrame: Int) async throws {
        var demultiplexer = StreamDemultiplexer()
        let chunkLimit = max(maxFrame - 1, 1)
        func send(_ stream: StreamKind, _ payload: ByteBuffer) async throws {
            var payload = payload
            while payload.readableBytes > 0, let slice = payload.readSlice(length: min(payload.readableBytes, chunkLimit)) {
                var frame = ByteBuffer()
                frame.reserveCapacity(slice.readableBytes + 1)
                frame.writeInteger(stream.rawValue)
                frame.writeImmutableBuffer(slice)
                try await outbound.write(.binary(frame))
            }
        }
        for try await chunk in io.output {
            if io.tty {
                try await send(.stdout, chunk)
            } else {
                for frame in try demultiplexer.feed(chunk) { try await send(frame.stream, frame.payload) }
            }
        }
        if !io.tty { try demultiplexer.finish() }
    }
}

/// The client's message iterator, moved from the serving task (which read the start message and
/// never touches it again) to the task that reads stdin: `@unchecked` because the iterator is not
/// `Sendable`, and safe because exactly one task uses it at any time.
struct HandedOver: @unchecked Sendable {
    var iterator: WebSocketInboundMessageStream.AsyncIterator
}

/// A client's text message on the exec WebSocket: `{"type":"eof"}` or
/// `{"type":"resize","cols":120,"rows":40}`.
enum ExecControl: Equatable {
    case eof
    case resize(columns: Int, rows: Int)
    case invalid(String)

    static func parse(_ text: String) -> ExecControl {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let type = object["type"] as? String
        else { return .invalid("control messages are JSON objects with a type") }
        switch type {
        case "eof": return .eof
        case "resize":
            switch TerminalControl.parse(text) {
            case .resize(let columns, let rows): return .resize(columns: columns, rows: rows)
            case .invalid(let why): return .invalid(why)
            case .signal: return .invalid("resize needs numeric cols and rows")
            }
        default:
            return .invalid("unknown control message type \(type); use eof or resize")
        }
    }
}

/// Up to `cap` bytes of one output stream, and how many there were in all.
struct CappedOutput {
    let cap: Int
    var bytes = ByteBuffer()
    var total = 0

    init(cap: Int) { self.cap = cap }

    var truncated: Bool { total > cap }

    mutating func append(_ payload: ByteBuffer) {
        total += payload.readableBytes
        let room = cap - bytes.readableBytes
        guard room > 0 else { return }
        var payload = payload
        if let kept = payload.readSlice(length: min(room, payload.readableBytes)) { bytes.writeImmutableBuffer(kept) }
    }

    func text(base64: Bool) -> String {
        base64 ? Data(bytes.readableBytesView).base64EncodedString() : String(decoding: bytes.readableBytesView, as: UTF8.self)
    }
}
