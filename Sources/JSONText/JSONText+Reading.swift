import Foundation

/// Reading JSON text: the two shapes the store keeps in its JSON columns (an array of strings, an
/// object of string values) here, and any value through ``JSONReader`` (requests and seccomp
/// profiles, read into the policy's document tree).
///
/// `JSONDecoder` reads through `Decodable`'s generic containers, about 10,000 instructions for a
/// short column and 90,000 for a launch request, where scanning the bytes costs a fifth of that:
/// every listing, every `GET` of a session and every exec reads three such columns a row, and
/// every launch a request. The reader accepts what RFC 8259 allows (whitespace between tokens,
/// every escape, `\u` surrogate pairs) and nothing else: a control character inside a string, a
/// lone surrogate, bytes that are not UTF-8 or trailing text are errors that say where. A key
/// given twice in one object is an error too: two readers of the same text (the web tier's and
/// this one) must not see two different values.
extension JSONText {
    /// Text that is not the JSON asked for.
    public struct ReadError: Error, Equatable, CustomStringConvertible {
        /// The byte offset in the text's UTF-8 where reading stopped.
        public var offset: Int
        /// What was expected there.
        public var reason: String

        public init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }

        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// The strings of a JSON array of strings (`["a","b"]`).
    public static func strings(reading text: String) throws(ReadError) -> [String] {
        try JSONReader.read(text) { reader throws(ReadError) in try reader.strings() }
    }

    /// The members of a JSON object of string values (`{"k":"v"}`).
    public static func stringMap(reading text: String) throws(ReadError) -> [String: String] {
        try JSONReader.read(text) { reader throws(ReadError) in try reader.stringMap() }
    }
}

/// A cursor over the UTF-8 of one JSON text, which it has checked is valid UTF-8 (so a run of
/// bytes between two ASCII bytes is valid UTF-8 too). Its readers skip the whitespace before
/// their token.
package struct JSONReader {
    package enum Container {
        case array, object

        var bytes: (open: UInt8, close: UInt8) {
            self == .array ? (UInt8(ascii: "["), UInt8(ascii: "]")) : (UInt8(ascii: "{"), UInt8(ascii: "}"))
        }
        var name: String { self == .array ? "an array" : "an object" }
    }

    /// How deep arrays and objects may nest in a text (as deep as `JSONDecoder` allows): the
    /// readers of nested values recurse once per level.
    package static let maximumDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Runs `body` over `text`, then requires the end of the text.
    package static func read<Value>(
        _ text: String, _ body: (inout JSONReader) throws(JSONText.ReadError) -> Value
    ) throws(JSONText.ReadError) -> Value {
        var text = text
        return try text.withUTF8 { utf8 in
            var reader = JSONReader(utf8)
            return Result { () throws(JSONText.ReadError) in
                let value = try body(&reader)
                try reader.end()
                return value
            }
        }.get()
    }

    /// Runs `body` over `data` (which must be UTF-8), then requires the end of the text.
    package static func read<Value>(
        _ data: some Sequence<UInt8>, _ body: (inout JSONReader) throws(JSONText.ReadError) -> Value
    ) throws(JSONText.ReadError) -> Value {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw JSONText.ReadError(offset: invalidUTF8Offset(data), reason: "bytes that are not UTF-8")
        }
        return try read(text, body)
    }

    /// The offset of the first byte of `data` that does not begin valid UTF-8.
    private static func invalidUTF8Offset(_ data: some Sequence<UInt8>) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = data.makeIterator()
        var offset = 0
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) { offset += scalar.count }
        return offset
    }

    /// Where the reader is: a byte offset in the text.
    package var offset: Int { index }

    package func failure(_ reason: String) -> JSONText.ReadError { JSONText.ReadError(offset: index, reason: reason) }

    /// The next byte after whitespace; nil at the end of the text.
    package mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    /// Consumes `byte` or fails with "expected `what`".
    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONText.ReadError) {
        guard peek() == byte else { throw failure("expected \(what)") }
        index += 1
    }

    private mutating func end() throws(JSONText.ReadError) {
        guard peek() == nil else { throw failure("expected the end of the text") }
    }

    /// An array or an object: its elements, separated by commas, each read by `element`.
    package mutating func elements(
        of container: Container, _ element: (inout JSONReader) throws(JSONText.ReadError) -> Void
    ) throws(JSONText.ReadError) {
        let (open, close) = container.bytes
        try expect(open, "\(container.name)")
        if peek() == close {
            index += 1
            return
        }
        while true {
            try element(&self)
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case close:
                index += 1
                return
            default: throw failure("expected ',' or '\(Unicode.Scalar(close))' in \(container.name)")
            }
        }
    }

    /// An object: each member's key, then `value` reads its value and says whether the key was
    /// new; a key given twice is an error.
    package mutating func members(
        _ value: (inout JSONReader, String) throws(JSONText.ReadError) -> Bool
    ) throws(JSONText.ReadError) {
        try elements(of: .object) { reader throws(JSONText.ReadError) in
            _ = reader.peek()
            let start = reader.index
            let key = try reader.string()
            try reader.expect(UInt8(ascii: ":"), "':' after an object's key")
            guard try value(&reader, key) else {
                throw JSONText.ReadError(offset: start, reason: "the key \"\(key)\" given twice")
            }
        }
    }

    // The generic readers are inlinable so that the modules calling them specialize them.

    /// An array, each element read by `element`.
    @inlinable
    package mutating func array<Element>(
        _ element: (inout JSONReader) throws(JSONText.ReadError) -> Element
    ) throws(JSONText.ReadError) -> [Element] {
        var values: [Element] = []
        try elements(of: .array) { reader throws(JSONText.ReadError) in values.append(try element(&reader)) }
        return values
    }

    /// An object whose members' values are each read by `value`; a key given twice is an error.
    @inlinable
    package mutating func map<Value>(
        _ value: (inout JSONReader) throws(JSONText.ReadError) -> Value
    ) throws(JSONText.ReadError) -> [String: Value] {
        var values: [String: Value] = [:]
        try members { reader, key throws(JSONText.ReadError) in values.updateValue(try value(&reader), forKey: key) == nil }
        return values
    }

    /// An array of strings.
    package mutating func strings() throws(JSONText.ReadError) -> [String] {
        try array { reader throws(JSONText.ReadError) in try reader.string() }
    }

    /// An object of string values.
    package mutating func stringMap() throws(JSONText.ReadError) -> [String: String] {
        try map { reader throws(JSONText.ReadError) in try reader.string() }
    }

    /// `null` as nil, any other value read by `value`.
    @inlinable
    package mutating func nullable<Value>(
        _ value: (inout JSONReader) throws(JSONText.ReadError) -> Value
    ) throws(JSONText.ReadError) -> Value? {
        guard peek() == UInt8(ascii: "n") else { return try value(&self) }
        _ = try literal()
        return nil
    }

    /// `true` or `false`.
    package mutating func bool() throws(JSONText.ReadError) -> Bool {
        if take("true") { return true }
        if take("false") { return false }
        throw failure("expected true or false")
    }

    /// A number written as an integer that `Integer` holds.
    @inlinable
    package mutating func integer<Integer: FixedWidthInteger>(_: Integer.Type = Integer.self) throws(JSONText.ReadError) -> Integer {
        _ = peek()
        let start = offset
        let (text, integral) = try number()
        guard integral, let value = Integer(text) else {
            throw JSONText.ReadError(offset: start, reason: "expected an integer that \(Integer.self) holds")
        }
        return value
    }

    /// Any value, checked and passed over, nested at most `maximumDepth` deep.
    package mutating func skipValue(maximumDepth: Int = Self.maximumDepth) throws(JSONText.ReadError) {
        switch peek() {
        case UInt8(ascii: "\""):
            try skipString()
        case let open where open == UInt8(ascii: "[") || open == UInt8(ascii: "{"):
            guard maximumDepth > 0 else { throw failure("arrays and objects nested too deep") }
            if open == UInt8(ascii: "[") {
                try elements(of: .array) { reader throws(JSONText.ReadError) in try reader.skipValue(maximumDepth: maximumDepth - 1) }
            } else {
                try members { reader, _ throws(JSONText.ReadError) in
                    try reader.skipValue(maximumDepth: maximumDepth - 1)
                    return true
                }
            }
        case .some(UInt8(ascii: "-")), .some(UInt8(ascii: "0")...UInt8(ascii: "9")):
            _ = try number()
        default:
            _ = try literal()
        }
    }

    /// `true`, `false` or `null`, whichever the text has.
    package mutating func literal() throws(JSONText.ReadError) -> Bool? {
        if take("true") { return true }
        if take("false") { return false }
        if take("null") { return nil }
        throw failure("expected a value")
    }

    /// Consumes `word` when the text has it next.
    private mutating func take(_ word: StaticString) -> Bool {
        guard peek() != nil, bytes.count - index >= word.utf8CodeUnitCount,
            memcmp(bytes.baseAddress! + index, word.utf8Start, word.utf8CodeUnitCount) == 0
        else { return false }
        index += word.utf8CodeUnitCount
        return true
    }

    /// A number as JSON writes it (`-`, digits without a leading zero, a fraction, an exponent):
    /// its text, and whether it has neither fraction nor exponent.
    package mutating func number() throws(JSONText.ReadError) -> (text: String, integral: Bool) {
        _ = peek()
        let start = index
        func digits() -> Int {
            let first = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let leadingZero = index < bytes.count && bytes[index] == UInt8(ascii: "0")
        let whole = digits()
        guard whole > 0, !(leadingZero && whole > 1) else {
            index = start
            throw failure(whole == 0 ? "expected a value" : "a number with a leading zero")
        }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            integral = false
            guard digits() > 0 else { throw failure("expected a digit after a number's '.'") }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            integral = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw failure("expected a digit in a number's exponent") }
        }
        return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self), integral)
    }

    /// A string. Its end is found first; a string without escapes is then taken whole, and one
    /// with escapes decoded into a buffer of its escaped length, which its UTF-8 never exceeds (a
    /// seccomp profile inside an inspect's `SecurityOpt` escapes a quote every seven bytes: an
    /// array append per run between two escapes cost twice the decoding).
    package mutating func string() throws(JSONText.ReadError) -> String {
        let (body, escaped) = try scanString()
        guard escaped else { return String(decoding: UnsafeBufferPointer(rebasing: bytes[body]), as: UTF8.self) }
        return String(decoding: try unescaped(body), as: UTF8.self)
    }

    /// Passes over a string, making none unless it has escapes to check.
    private mutating func skipString() throws(JSONText.ReadError) {
        let (body, escaped) = try scanString()
        if escaped { _ = try unescaped(body) }
    }

    /// Moves past a string: the range of its bytes between the quotes, and whether any is a
    /// backslash. Control characters outside escapes are refused here; escapes are checked by
    /// ``unescaped(_:)``.
    private mutating func scanString() throws(JSONText.ReadError) -> (body: Range<Int>, escaped: Bool) {
        try expect(UInt8(ascii: "\""), "a string")
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw failure("a control character must be escaped inside a string") }
            if byte == UInt8(ascii: "\\") {
                // Whatever the escape is, the byte after the backslash does not end the string.
                guard index + 1 < bytes.count else { throw failure("an escape that is not complete") }
                escaped = true
                index += 2
            } else {
                index += 1
            }
        }
        guard index < bytes.count else { throw failure("a string that is not closed") }
        index += 1
        return (start..<index - 1, escaped)
    }

    /// The UTF-8 of a string's bytes (from ``scanString()``) with its escapes decoded; the reader
    /// is left after the string's closing quote.
    private mutating func unescaped(_ body: Range<Int>) throws(JSONText.ReadError) -> [UInt8] {
        index = body.lowerBound
        var failure: JSONText.ReadError?
        let decoded = [UInt8](unsafeUninitializedCapacity: body.count) { buffer, count in
            while index < body.upperBound {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") {
                    do throws(JSONText.ReadError) {
                        for unit in UTF8.encode(try escape())! {
                            buffer[count] = unit
                            count += 1
                        }
                    } catch {
                        failure = error
                        return
                    }
                } else {
                    buffer[count] = byte
                    count += 1
                    index += 1
                }
            }
        }
        if let failure { throw failure }
        index = body.upperBound + 1
        return decoded
    }

    /// The escape at `index` (a backslash): the scalar it stands for; `index` moves past it.
    private mutating func escape() throws(JSONText.ReadError) -> Unicode.Scalar {
        guard index + 1 < bytes.count else { throw failure("an escape that is not complete") }
        let letter = bytes[index + 1]
        let simple: UInt8? =
            switch letter {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): letter
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "t"): 0x09
            default: nil
            }
        if let simple {
            index += 2
            return Unicode.Scalar(simple)
        }
        guard letter == UInt8(ascii: "u") else { throw failure("an escape JSON does not have") }
        let start = index
        func unpaired(_ reason: String) -> JSONText.ReadError { JSONText.ReadError(offset: start, reason: reason) }
        let first = try hexUnit()
        let scalar: Unicode.Scalar?
        switch first {
        case 0xD800...0xDBFF:
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw unpaired("a high surrogate escape without its low surrogate") }
            let second = try hexUnit()
            guard (0xDC00...0xDFFF).contains(second) else {
                throw unpaired("a high surrogate escape without its low surrogate")
            }
            scalar = Unicode.Scalar(0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00))
        case 0xDC00...0xDFFF:
            throw unpaired("a low surrogate escape without its high surrogate")
        default:
            scalar = Unicode.Scalar(first)
        }
        guard let scalar else { throw unpaired("an escape of no Unicode scalar") }
        return scalar
    }

    /// `\uXXXX` at `index`: its code unit; `index` moves past it.
    private mutating func hexUnit() throws(JSONText.ReadError) -> UInt16 {
        guard index + 6 <= bytes.count else { throw failure("a \\u escape needs four hex digits") }
        var unit: UInt16 = 0
        for offset in 2..<6 {
            let byte = bytes[index + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            unit = unit << 4 | UInt16(digit)
        }
        index += 6
        return unit
    }
}
