import Foundation
import SandcastleTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket client written by hand on a plain TCP socket, for frames no library would send:
/// unmasked, oversized, reserved opcodes, broken UTF-8. Blocking: call it through `offPool`.
final class RawWebSocket: Sendable {
    struct Frame: Sendable {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]

        var text: String { String(decoding: payload, as: UTF8.self) }
        /// The status code of a close frame.
        var closeCode: Int? {
            opcode == 0x8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
        }
    }

    let connection: RawConnection

    /// Connects and upgrades `GET path` with the terminal subprotocol and `token`.
    init(port: Int, path: String, token: String) throws {
        connection = try RawConnection(port: port)
        connection.send(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(token)\r\n\r\n")
        var head = [UInt8]()
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            guard let byte = try read(count: 1, timeout: 10)?.first else {
                throw FixtureError(description: "the server closed during the handshake: \(String(decoding: head, as: UTF8.self))")
            }
            head.append(byte)
        }
        let status = String(decoding: head, as: UTF8.self)
        guard status.hasPrefix("HTTP/1.1 101") else {
            connection.close()
            throw FixtureError(description: "the upgrade was refused: \(status)")
        }
    }

    /// Sends one frame. `masked: false` breaks RFC 6455's rule for clients; `declaredLength`
    /// claims a payload length other than the bytes sent; `rsv` sets reserved bits (0x70).
    func send(opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0, declaredLength: Int? = nil) {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
        let length = declaredLength ?? payload.count
        let maskBit: UInt8 = masked ? 0x80 : 0
        if length < 126 {
            frame.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            frame.append(maskBit | 126)
            frame += [UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            frame.append(maskBit | 127)
            frame += (0..<8).reversed().map { UInt8((UInt64(length) >> (UInt64($0) * 8)) & 0xFF) }
        }
        if masked {
            let key: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
            frame += key
            frame += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        } else {
            frame += payload
        }
        sendBytes(frame)
    }

    func sendText(_ text: String) { send(opcode: 0x1, Array(text.utf8)) }
    func sendBinary(_ text: String) { send(opcode: 0x2, Array(text.utf8)) }

    func sendBytes(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }  // the server may already have closed: what it answered is read next
            offset += written
        }
    }

    /// Reads exactly `count` bytes; nil when the connection ended first.
    func read(count: Int, timeout: Int) throws -> [UInt8]? {
        var result = [UInt8]()
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        var buffer = [UInt8](repeating: 0, count: max(count, 1))
        while result.count < count {
            guard Date() < deadline else { throw FixtureError(description: "no data from the server within \(timeout) s") }
            var descriptor = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) > 0 else { continue }
            let received = recv(connection.fd, &buffer, count - result.count, 0)
            if received <= 0 { return nil }
            result += buffer[0..<received]
        }
        return result
    }

    /// The next frame from the server; nil when the connection ended.
    func readFrame(timeout: Int = 15) throws -> Frame? {
        guard let head = try read(count: 2, timeout: timeout) else { return nil }
        // Server frames are never masked (RFC 6455 section 5.1).
        guard head[1] & 0x80 == 0 else { throw FixtureError(description: "the server sent a masked frame") }
        var length = Int(head[1] & 0x7F)
        if length == 126 {
            guard let extended = try read(count: 2, timeout: timeout) else { return nil }
            length = Int(extended[0]) << 8 | Int(extended[1])
        } else if length == 127 {
            guard let extended = try read(count: 8, timeout: timeout) else { return nil }
            length = extended.reduce(0) { $0 << 8 | Int($1) }
        }
        guard let payload = length == 0 ? [] : try read(count: length, timeout: timeout) else { return nil }
        return Frame(fin: head[0] & 0x80 != 0, opcode: head[0] & 0x0F, payload: payload)
    }

    /// Frames until one satisfies `stop` (returned) or the connection ends (nil).
    func readUntil(timeout: Int = 15, _ stop: (Frame) -> Bool) throws -> Frame? {
        while let frame = try readFrame(timeout: timeout) {
            if stop(frame) { return frame }
        }
        return nil
    }

    /// Whether the server closes the TCP connection within `timeout` seconds (reading on).
    func waitForEnd(timeout: Int) -> Bool {
        connection.waitForClose(timeout: timeout)
    }

    func close() { connection.close() }
}

