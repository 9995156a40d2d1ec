import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the Docker engine client.
///
/// Every error names the request it belongs to (method and path), the HTTP status when there was
/// one, the engine's own message when it sent one, and, where there is one, what to do about it.
public struct DockerError: Error, Sendable, CustomStringConvertible {
    /// A closed set of failure kinds; callers switch on this.
    public enum Code: String, Sendable, Equatable {
        /// The engine answered 404: no such container, image or exec.
        case notFound
        /// The engine answered 409: a name in use, a container not running, a removal in progress.
        case conflict
        /// The engine answered 400: the request was refused as malformed.
        case badRequest
        /// Any other HTTP error status.
        case http
        /// No connection could be made: the socket is missing, refused or not accessible.
        case engineUnreachable
        /// The engine speaks an API older than this client's minimum.
        case versionTooOld
        /// The engine answered with a body that did not decode as expected.
        case undecodableBody
        /// The response exceeded the configured size limit.
        case responseTooLarge
        /// The engine broke the HTTP protocol: garbage, an early close, a missing upgrade.
        case protocolViolation
        /// The call did not finish within its timeout.
        case timeout
        /// Any other transport failure reported by libcurl or the socket layer.
        case transport
        /// The configured endpoint cannot be used.
        case invalidEndpoint
        /// The calling task was cancelled.
        case cancelled
    }

    public var code: Code
    /// HTTP method of the request, or `CONNECT` when no request was sent yet.
    public var method: String
    /// Request path including the API version prefix and query.
    public var path: String
    /// HTTP status, when a response status line was received.
    public var status: Int?
    /// The `message` field of the engine's JSON error body.
    public var engineMessage: String?
    /// What went wrong, in words.
    public var detail: String
    /// What an operator can do about it.
    public var hint: String?
    /// The raw body (truncated) for `undecodableBody` and unexpected answers.
    public var body: String?

    public init(
        code: Code, method: String, path: String, status: Int? = nil, engineMessage: String? = nil,
        detail: String, hint: String? = nil, body: String? = nil
    ) {
        self.code = code
        self.method = method
        self.path = path
        self.status = status
        self.engineMessage = engineMessage
        self.detail = detail
        self.hint = hint
        self.body = body
    }

    public var description: String {
        var text = "docker engine: \(method) \(path): "
        if let status { text += "HTTP \(status): " }
        text += engineMessage ?? detail
        if engineMessage != nil, !detail.isEmpty, detail != engineMessage { text += " (\(detail))" }
        if let body, code == .undecodableBody || code == .protocolViolation { text += "; body: \(body)" }
        if let hint { text += ". \(hint)" }
        return text
    }

    static func invalidEndpoint(_ text: String, reason: String) -> DockerError {
        DockerError(
            code: .invalidEndpoint, method: "CONNECT", path: text,
            detail: "invalid Docker endpoint '\(text)': \(reason)",
            hint: "Set DOCKER_HOST or the daemon's engine endpoint to unix:///var/run/docker.sock or tcp://HOST:PORT"
        )
    }

    /// Maps an HTTP error response to its code, taking the engine's message from its JSON body
    /// (or, on hijacked connections, where the engine answers errors in plain text, from the text).
    static func fromResponse(method: String, path: String, status: Int, body: [UInt8], plainText: Bool = false) -> DockerError {
        let code: Code =
            switch status {
            case 404: .notFound
            case 409: .conflict
            case 400: .badRequest
            default: .http
            }
        var message = EngineErrorBody.message(from: body)
        if message == nil, plainText, body.count <= 4096 {
            let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            message = text.isEmpty ? nil : text
        }
        return DockerError(
            code: code, method: method, path: path, status: status, engineMessage: message,
            detail: message ?? "the engine answered HTTP \(status)",
            body: message == nil ? Self.excerpt(body) : nil
        )
    }

    /// A printable excerpt of a body, at most `limit` bytes, with invalid UTF-8 repaired.
    static func excerpt(_ body: [UInt8], limit: Int = 512) -> String {
        let slice = body.prefix(limit)
        var text = String(decoding: slice, as: UTF8.self)
        if body.count > limit { text += "… (\(body.count) bytes)" }
        return text
    }
}

/// Diagnoses why a unix socket could not be connected, for the `engineUnreachable` error.
enum SocketDiagnosis {
    /// - Parameters:
    ///   - path: the socket path.
    ///   - connectErrno: the errno of the failed `connect(2)` (libcurl's `CURLINFO_OS_ERRNO`), or 0
    ///     when unknown; the file itself is examined to tell the cases apart.
    static func explain(socketPath path: String, connectErrno: Int32) -> (detail: String, hint: String) {
        var info = stat()
        let statResult = stat(path, &info)
        let statErrno = statResult == 0 ? 0 : errno
        if connectErrno == EACCES || connectErrno == EPERM || statErrno == EACCES {
            var owner = ""
            if statResult == 0 {
                owner = String(format: " (owner uid %d, group gid %d, mode %o)", info.st_uid, info.st_gid, info.st_mode & 0o777)
            }
            return (
                "permission denied on the Docker socket \(path)\(owner)",
                "Run as root or as a member of the socket's group (usually `docker`), or give this user access to it"
            )
        }
        if connectErrno == ENOENT || statErrno == ENOENT {
            return (
                "the Docker socket \(path) does not exist",
                "Start the engine (`dockerd &` or `systemctl start docker`) or point DOCKER_HOST at its socket"
            )
        }
        if statResult == 0 && (info.st_mode & S_IFMT) != S_IFSOCK {
            return ("\(path) exists but is not a socket", "Point DOCKER_HOST at the engine's socket")
        }
        if statResult != 0 {
            return ("cannot examine the Docker socket \(path): \(String(cString: strerror(statErrno)))", "Check the path")
        }
        return (
            "nothing accepts connections on the Docker socket \(path) (the engine is not running, or the socket is stale)",
            "Start the engine (`dockerd &` or `systemctl start docker`)"
        )
    }
}
