/// The lines of an HTTP/1.x response head from the engine, read as the ASCII bytes they are.
///
/// Every engine call parses a head (libcurl hands its lines over one by one; an attach or exec start
/// reads its own): Foundation's trimming and searching cost tens of thousands of instructions a
/// line, more than the rest of a small call.
enum HTTPHead {
    /// Whether `line` is a status line (`HTTP/1.1 200 OK`) rather than a header field.
    static func isStatusLine(_ line: some Collection<UInt8>) -> Bool {
        line.starts(with: "HTTP/".utf8)
    }

    /// The code of a status line: nil when `line` is not one, or its code is not three digits in
    /// 100...599.
    static func statusCode(_ line: some Collection<UInt8>) -> Int? {
        guard isStatusLine(line), let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        let code = line[line.index(after: space)...].prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard code.count == 3, code.endIndex == line.endIndex || isBlank(line[code.endIndex]) else { return nil }
        let value = code.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return (100...599).contains(value) ? value : nil
    }

    /// A header field, `Name: value`: the name in lowercase, the value without the blanks around
    /// it (or the line's CR LF); nil for a line without a colon.
    static func field(_ line: some BidirectionalCollection<UInt8>) -> (name: String, value: String)? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let name = trimmed(line[..<colon]).lazy.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
        return (String(decoding: name, as: UTF8.self), String(decoding: trimmed(line[line.index(after: colon)...]), as: UTF8.self))
    }

    /// Whether `line` holds nothing but blanks: the empty line that ends a head.
    static func isBlankLine(_ line: some BidirectionalCollection<UInt8>) -> Bool {
        line.allSatisfy(isBlank)
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    private static func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else {
            return bytes[bytes.endIndex...]
        }
        return bytes[first...last]
    }
}
