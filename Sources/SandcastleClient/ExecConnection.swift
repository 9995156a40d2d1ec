import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket

/// The exec WebSocket (`GET /v1/sessions/{id}/exec`, subprotocol `sandcastle.exec.v1`, as the
/// README's "Running commands in a session" describes it): one command, its output streams apart,
/// stdin and the exit code.
public enum ExecConnection {
    /// What the server sends.
    public enum Message: Sendable, Equatable {
        /// `{"type":"started","exec":ID}`: the command runs.
        case started(exec: String)
        case stdout([UInt8])
        case stderr([UInt8])
        /// `{"type":"exit",...}`: the command ended; the connection closes next.
        case exit(code: Int, timedOut: Bool)
        /// `{"type":"error",...}`: the command could not start or failed.
        case error(code: String, message: String)
        case closed(code: Int?, reason: String)
    }

    /// What the client sends.
    public struct Writer: Sendable {
        let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>

        /// Bytes for the command's stdin.
        public func send(stdin: [UInt8]) async throws {
            try await outbound.write(TerminalConnection.Writer.frame(.binary, ByteBuffer(bytes: stdin)))
        }

        /// `{"type":"eof"}`: the command's stdin ends.
        public func closeStdin() async throws {
            try await outbound.write(TerminalConnection.Writer.frame(.text, ByteBuffer(string: #"{"type":"eof"}"#)))
        }

        /// `{"type":"resize","cols":C,"rows":R}` (with a TTY).
        public func resize(cols: Int, rows: Int) async throws {
            try await TerminalConnection.Writer(outbound: outbound).resize(cols: cols, rows: rows)
        }
    }

    /// Runs `start` (the JSON start message: `command`, `tty`, `stdin`, `env`, `timeoutSeconds`,
    /// `cols`, `rows`) in session `id` with the API key, and `body` with the server's messages.
    public static func open<Result: Sendable>(
        address: DaemonAddress, apiKey: String?, session id: String, start: [String: any Sendable],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (AsyncThrowingStream<Message, any Error>, Writer) async throws -> Result
    ) async throws -> Result {
        let path = "/v1/sessions/\(try SandcastleClient.pathSegment(id))/exec"
        var headers = [("Sec-WebSocket-Protocol", "sandcastle.exec.v1")]
        if let apiKey { headers.append(("Authorization", "Bearer \(apiKey)")) }
        let channel = try await TerminalConnection.upgrade(
            address: address, path: path, headers: headers, group: group,
            refusal: "the daemon refused to run a command in session \(id) (check the key's role and the session id)")
        var object = start.mapValues { $0 as Any }
        object["type"] = "start"
        let startText = try JSONSerialization.data(withJSONObject: object)
        return try await TerminalConnection.serve(
            channel, binary: ExecConnection.output, text: ExecConnection.control, closed: { .closed(code: $0, reason: $1) }
        ) { messages, outbound in
            try await outbound.write(TerminalConnection.Writer.frame(.text, ByteBuffer(bytes: startText)))
            return try await body(messages, Writer(outbound: outbound))
        }
    }

    static func output(_ bytes: [UInt8]) -> Message? {
        guard let stream = bytes.first else { return nil }
        return stream == 2 ? .stderr(Array(bytes.dropFirst())) : .stdout(Array(bytes.dropFirst()))
    }

    static func control(_ bytes: [UInt8]) -> Message? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], let type = object["type"] as? String
        else { return nil }
        switch type {
        case "started": return .started(exec: object["exec"] as? String ?? "")
        case "exit":
            return .exit(code: (object["exitCode"] as? NSNumber)?.intValue ?? -1, timedOut: (object["timedOut"] as? Bool) ?? false)
        case "error": return .error(code: object["code"] as? String ?? "", message: object["message"] as? String ?? "")
        default: return nil
        }
    }
}

extension SandcastleClient {
    /// Runs a command in session `id` over the exec WebSocket with this client's key (see
    /// ``ExecConnection/open(address:apiKey:session:start:group:_:)``).
    public func exec<Result: Sendable>(
        _ id: String, start: [String: any Sendable],
        _ body: (AsyncThrowingStream<ExecConnection.Message, any Error>, ExecConnection.Writer) async throws -> Result
    ) async throws -> Result {
        try await ExecConnection.open(address: address, apiKey: apiKey, session: id, start: start, body)
    }
}
