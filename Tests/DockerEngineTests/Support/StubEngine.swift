import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A scripted HTTP server on a unix socket, standing in for the engine where the real one cannot
/// misbehave on demand: garbage answers, early closes, huge bodies, silence.
///
/// Each connection runs on its own thread: it reads one request head and hands it to `respond`,
/// which writes whatever it likes to the connection's file descriptor.
final class StubEngine: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var head: String
    }

    typealias Responder = @Sendable (Request, Int32) -> Void

    let socketPath: String
    private let listener: Int32
    private let respond: Responder
    private let requests = Mutex<[Request]>([])

    var receivedRequests: [Request] { requests.withLock { $0 } }

    init(respond: @escaping Responder) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stub-engine-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        socketPath = directory.appendingPathComponent("engine.sock").path
        listener = try Self.listen(at: socketPath)
        self.respond = respond
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    /// Stops accepting; connections in progress finish on their own.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(socketPath)
        rmdir((socketPath as NSString).deletingLastPathComponent)
    }

    static func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let size = socklen_t(MemoryLayout<sockaddr_un>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        return fd
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in self.serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var head = [UInt8]()
        var byte: UInt8 = 0
        while !head.ends(with: [13, 10, 13, 10]) {
            guard read(connection, &byte, 1) == 1 else { return }
            head.append(byte)
            if head.count > 1 << 16 { return }
        }
        let text = String(decoding: head, as: UTF8.self)
        let requestLine = text.split(separator: "\r\n").first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        let request = Request(
            method: parts.count > 0 ? String(parts[0]) : "", path: parts.count > 1 ? String(parts[1]) : "", head: text)
        requests.withLock { $0.append(request) }
        respond(request, connection)
    }

    // MARK: - Response helpers for responders

    static func write(_ fd: Int32, _ text: String) {
        write(fd, Array(text.utf8))
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            // send with MSG_NOSIGNAL: a client that hangs up must not kill the test process with SIGPIPE.
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// A complete JSON answer with `Content-Length`.
    static func json(_ fd: Int32, status: Int = 200, _ body: String, headers: [String] = []) {
        var head = "HTTP/1.1 \(status) Stub\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        head += "Api-Version: 1.41\r\n"
        for header in headers { head += header + "\r\n" }
        write(fd, head + "\r\n" + body)
    }

    /// Answers `/_ping` and `/version` like an engine with the given API version, so a client can
    /// connect; returns false for other paths.
    static func answerHandshake(_ request: Request, _ fd: Int32, apiVersion: String = "1.41", minimum: String = "1.12") -> Bool {
        if request.path == "/_ping" {
            write(fd, "HTTP/1.1 200 OK\r\nApi-Version: \(apiVersion)\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK")
            return true
        }
        if request.path == "/version" {
            json(fd, #"{"Version":"stub","ApiVersion":"\#(apiVersion)","MinAPIVersion":"\#(minimum)","Os":"linux"}"#)
            return true
        }
        return false
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
