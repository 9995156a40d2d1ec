import Foundation
import Sessions

/// The body of `POST /v1/sessions/{id}/exec`, and the `start` message of the `sandcastle.exec.v1`
/// WebSocket (README, "Running commands in a session").
struct ExecRequestBody: Decodable {
    var command: [String]
    var env: [String]?
    var timeoutSeconds: Double?
    /// JSON mode: stdin as UTF-8 text (`stdin`) or base64 (`stdinBase64`). WebSocket mode: a
    /// boolean, whether the client will send stdin frames.
    var stdin: Stdin?
    var stdinBase64: String?
    var tty: Bool?
    /// JSON mode: `utf8` (invalid sequences replaced) or `base64` for stdout and stderr.
    var encoding: String?
    /// JSON mode: the most bytes kept of each of stdout and stderr.
    var maxOutputBytes: Int?
    /// WebSocket mode with a TTY: the terminal's size at start.
    var cols: Int?
    var rows: Int?
    /// WebSocket mode: `start`.
    var type: String?

    enum Stdin: Decodable {
        case text(String)
        case flag(Bool)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .flag(flag)
            } else {
                self = .text(try container.decode(String.self))
            }
        }
    }

    static let keys: Set<String> = [
        "command", "env", "timeoutSeconds", "stdin", "stdinBase64", "tty", "encoding", "maxOutputBytes", "cols", "rows", "type",
    ]
    static let maximumCommandArguments = 4096
    static let maximumCommandBytes = 256 << 10
    static let defaultMaxOutputBytes = 1 << 20
    static let maximumOutputBytes = 16 << 20

    /// Decodes strictly: unknown keys and wrong types are refused with the field named.
    static func decode(_ data: Data) throws -> ExecRequestBody {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw APIError.invalid("the body must be a JSON object")
        }
        if let unknown = object.keys.first(where: { !keys.contains($0) }) {
            throw APIError.invalid("unknown field '\(unknown)'; fields are \(keys.sorted().joined(separator: ", "))")
        }
        let body: ExecRequestBody
        do {
            body = try JSONDecoder().decode(ExecRequestBody.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIError.invalid("\(key.stringValue) is required")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw APIError.invalid("\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw APIError.invalid("the body does not decode: \(error)")
        }
        guard body.command.count <= maximumCommandArguments,
            body.command.reduce(0, { $0 + $1.utf8.count }) <= maximumCommandBytes
        else {
            throw APIError.invalid("command is limited to \(maximumCommandArguments) arguments and \(maximumCommandBytes) bytes")
        }
        if let cap = body.maxOutputBytes, !(0...maximumOutputBytes).contains(cap) {
            throw APIError.invalid("maxOutputBytes must be 0 to \(maximumOutputBytes)")
        }
        if let encoding = body.encoding, !["utf8", "base64"].contains(encoding) {
            throw APIError.invalid("encoding must be utf8 or base64")
        }
        return body
    }

    /// The domain request; `streaming` for the WebSocket, where stdin is a flag.
    func request(streaming: Bool) throws -> ExecRequest {
        var timeout: Duration?
        if let seconds = timeoutSeconds {
            guard seconds.isFinite, seconds > 0 else { throw APIError.invalid("timeoutSeconds must be a positive number") }
            timeout = .milliseconds(Int64(min(seconds, 1e9) * 1000))
        }
        let wantsStdin: Bool
        switch stdin {
        case .flag(let flag):
            guard streaming else { throw APIError.invalid("stdin is the input as text here; use stdinBase64 for bytes") }
            wantsStdin = flag
        case .text:
            guard !streaming else { throw APIError.invalid("stdin is a boolean on the WebSocket; send the input as binary frames") }
            wantsStdin = true
        case nil:
            wantsStdin = stdinBase64 != nil
        }
        if tty == true, !streaming { throw APIError.invalid("tty needs the WebSocket (subprotocol sandcastle.exec.v1)") }
        return ExecRequest(command: command, tty: tty ?? false, stdin: wantsStdin, timeout: timeout, env: env ?? [])
    }

    /// The JSON mode's stdin bytes.
    func stdinBytes() throws -> [UInt8]? {
        if let base64 = stdinBase64 {
            guard case nil = stdin else { throw APIError.invalid("give stdin or stdinBase64, not both") }
            guard let data = Data(base64Encoded: base64) else { throw APIError.invalid("stdinBase64 is not base64") }
            return Array(data)
        }
        if case .text(let text) = stdin { return Array(text.utf8) }
        return nil
    }
}

/// The answer of `POST /v1/sessions/{id}/exec`.
struct ExecResultBody: Encodable {
    var exec: String
    var exitCode: Int
    var timedOut: Bool
    var durationMs: Int64
    var encoding: String
    var stdout: String
    var stderr: String
    var stdoutBytes: Int
    var stderrBytes: Int
    var stdoutTruncated: Bool
    var stderrTruncated: Bool
}
