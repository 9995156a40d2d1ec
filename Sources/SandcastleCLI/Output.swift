import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Standard output and error, written on a serial queue of their own: a write to a terminal or
/// a pipe may block, and never on Swift's cooperative pool.
enum Output {
    private static let queue = DispatchQueue(label: "sandcastle.output")

    static func write(_ bytes: some Collection<UInt8> & Sendable, to fd: Int32 = STDOUT_FILENO) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                writeAll(Array(bytes), to: fd)
                continuation.resume()
            }
        }
    }

    static func line(_ text: String) async {
        await write(Array((text + "\n").utf8))
    }

    static func error(_ text: String) async {
        await write(Array((text + "\n").utf8), to: STDERR_FILENO)
    }

    /// Blocking: only from a thread of our own. False when the write failed (a full disk).
    @discardableResult
    static func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = Glibc.poll(&poll, 1, 1000)
                    continue
                }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Columns aligned with two spaces, like `docker ps`.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    var rendered: String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([render(header)] + rows.map(render)).joined(separator: "\n")
    }
}

/// `5s`, `3m`, `2h`, `4d`: how long ago, as `docker ps` shows it.
func age(since date: Date, now: Date = Date()) -> String {
    let seconds = max(0, Int(now.timeIntervalSince(date)))
    switch seconds {
    case ..<60: return "\(seconds)s"
    case ..<3600: return "\(seconds / 60)m"
    case ..<86400: return "\(seconds / 3600)h"
    default: return "\(seconds / 86400)d"
    }
}

/// JSON as the CLI prints it, the way `docker inspect` does: four-space indentation, `"key": value`,
/// keys sorted, dates in ISO 8601, and empty arrays and objects as `[]` and `{}` (Foundation's
/// pretty printer spreads those over three lines).
func prettyJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return indentJSON(Array(try encoder.encode(value)))
}

/// Lays out compact JSON text (as JSONEncoder writes it: no whitespace outside strings).
func indentJSON(_ compact: [UInt8]) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(compact.count * 2)
    var depth = 0
    var inString = false
    var escaped = false
    func newline() {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * 4))
    }
    var index = 0
    while index < compact.count {
        let byte = compact[index]
        defer { index += 1 }
        if inString {
            out.append(byte)
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            continue
        }
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            out.append(byte)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            out.append(byte)
            if index + 1 < compact.count, compact[index + 1] == close {
                out.append(close)
                index += 1
            } else {
                depth += 1
                newline()
            }
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
            newline()
            out.append(byte)
        case UInt8(ascii: ","):
            out.append(byte)
            newline()
        case UInt8(ascii: ":"):
            out.append(contentsOf: [byte, UInt8(ascii: " ")])
        default:
            out.append(byte)
        }
    }
    return String(decoding: out, as: UTF8.self)
}
