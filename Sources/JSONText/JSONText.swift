import Foundation

/// JSON text written value by value, byte for byte as Foundation's `JSONEncoder` writes the same
/// values with `.sortedKeys` and `.withoutEscapingSlashes` (or, with `escapingSlashes`, without
/// the latter): the same text, so a hash or a stored column computed either way is equal.
///
/// For the small documents every launch writes (stored JSON columns, the request's hash, event
/// payloads, session responses, terminal control messages): `JSONEncoder` walks a value through
/// `Encodable`'s generic containers, which cost tens of thousands of instructions per document,
/// ten times what appending its bytes does.
///
/// Keys are the caller's to write in sorted order (by their UTF-8 bytes, as `JSONEncoder` sorts
/// them); `stringMap(_:)` sorts its own. A debug build checks the order.
public struct JSONText: Sendable {
    /// The text so far.
    public private(set) var bytes: [UInt8] = []
    private let escapesSlashes: Bool
    /// Bit `d` is set when the container at depth `d` (from 0) already holds a value.
    private var filled: UInt64 = 0
    private var depth = 0
    /// A key was written and its value is next.
    private var afterKey = false
    #if DEBUG
    private var lastKeys: [[UInt8]?] = []
    #endif

    /// - Parameter escapingSlashes: write `/` as `\/`, as `JSONEncoder` does by default.
    public init(escapingSlashes: Bool = false) {
        escapesSlashes = escapingSlashes
        bytes.reserveCapacity(128)
    }

    /// The text as a string.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The JSON text of a string array, as `JSONEncoder` writes `[String]`.
    public static func strings(_ values: [String], escapingSlashes: Bool = false) -> String {
        var text = JSONText(escapingSlashes: escapingSlashes)
        text.strings(values)
        return text.text
    }

    /// The JSON text of a string dictionary, keys sorted, as `JSONEncoder` writes `[String: String]`.
    public static func stringMap(_ values: [String: String], escapingSlashes: Bool = false) -> String {
        var text = JSONText(escapingSlashes: escapingSlashes)
        text.stringMap(values)
        return text.text
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        beginValue()
        appendQuoted(value)
    }

    public mutating func integer(_ value: some BinaryInteger) {
        beginValue()
        if let value = Int64(exactly: value) {
            appendDigits(value, 1)
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    public mutating func bool(_ value: Bool) {
        beginValue()
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    public mutating func null() {
        beginValue()
        bytes.append(contentsOf: "null".utf8)
    }

    /// A date as `JSONEncoder`'s `.iso8601` strategy writes it: UTC, to the second (rounded down),
    /// `2026-12-05T16:52:27Z`. The calendar date comes from the day count by arithmetic (the
    /// proleptic Gregorian calendar, as `gmtime_r`), without `gmtime_r`'s lock and time-zone state,
    /// and the two-digit fields are written directly: 1,100 instructions a date where they cost
    /// 1,900, and a session's answer writes three or four dates.
    public mutating func date(_ date: Date) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (days, second) = Self.floorDivision(seconds, 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        beginValue()
        bytes.append(UInt8(ascii: "\""))
        appendDigits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        appendTwoDigits(month)
        bytes.append(UInt8(ascii: "-"))
        appendTwoDigits(day)
        bytes.append(UInt8(ascii: "T"))
        appendTwoDigits(second / 3600)
        bytes.append(UInt8(ascii: ":"))
        appendTwoDigits(second / 60 % 60)
        bytes.append(UInt8(ascii: ":"))
        appendTwoDigits(second % 60)
        bytes.append(contentsOf: "Z\"".utf8)
    }

    /// `value`, in `0...99`, as two digits.
    private mutating func appendTwoDigits(_ value: Int64) {
        bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value / 10))
        bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value % 10))
    }

    /// The quotient rounded toward minus infinity, and the remainder in `0..<divisor`.
    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    /// Year, month (1...12) and day (1...31) of the day `days` after 1970-01-01, counted in
    /// 400-year eras of 146,097 days whose years start on March 1st (so that a leap day ends one).
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let (era, dayOfEra) = floorDivision(days + 719_468, 146_097)  // from 0000-03-01
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0 is March
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    public mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    public mutating func stringMap(_ values: [String: String]) {
        beginObject()
        for key in values.keys.sorted(by: Self.precedes) {
            self.key(key)
            string(values[key]!)
        }
        endObject()
    }

    // MARK: Containers

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// The next member's key, inside an object; its value comes next.
    public mutating func key(_ key: String) {
        precondition(depth > 0 && !afterKey, "a JSON key outside an object or without a value")
        #if DEBUG
        let keyBytes = Array(key.utf8)
        if let last = lastKeys[depth - 1] {
            assert(Self.precedes(last, keyBytes), "JSON keys out of order: '\(key)' after '\(String(decoding: last, as: UTF8.self))'")
        }
        lastKeys[depth - 1] = keyBytes
        #endif
        separate()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    // MARK: Members: a key and its value, left out when the value is nil (as `Encodable` does)

    public mutating func member(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        string(value)
    }

    public mutating func member<Integer: BinaryInteger>(_ key: String, _ value: Integer?) {
        guard let value else { return }
        self.key(key)
        integer(value)
    }

    public mutating func member(_ key: String, _ value: Bool?) {
        guard let value else { return }
        self.key(key)
        bool(value)
    }

    public mutating func member(_ key: String, _ value: Date?) {
        guard let value else { return }
        self.key(key)
        date(value)
    }

    public mutating func member(_ key: String, _ value: [String]?) {
        guard let value else { return }
        self.key(key)
        strings(value)
    }

    public mutating func member(_ key: String, _ value: [String: String]?) {
        guard let value else { return }
        self.key(key)
        stringMap(value)
    }

    /// `JSONEncoder`'s key order: by UTF-8 bytes.
    public static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    private static func precedes(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool { lhs.lexicographicallyPrecedes(rhs) }

    // MARK: Internals

    private mutating func open(_ byte: UInt8) {
        beginValue()
        precondition(depth < 64, "JSON nested deeper than 64 containers")
        bytes.append(byte)
        depth += 1
        filled &= ~(1 << UInt64(depth - 1))
        #if DEBUG
        if lastKeys.count < depth { lastKeys.append(nil) } else { lastKeys[depth - 1] = nil }
        #endif
    }

    private mutating func close(_ byte: UInt8) {
        precondition(depth > 0 && !afterKey, "a JSON container closed that was not open, or after a key")
        depth -= 1
        bytes.append(byte)
    }

    private mutating func beginValue() {
        if afterKey {
            afterKey = false
        } else {
            separate()
        }
    }

    /// A comma before every value but a container's first.
    private mutating func separate() {
        guard depth > 0 else { return }
        let bit: UInt64 = 1 << UInt64(depth - 1)
        if filled & bit != 0 { bytes.append(UInt8(ascii: ",")) } else { filled |= bit }
    }

    /// `value` in decimal, its digits zero-padded to `width`, written straight into the text
    /// (`String(value)` allocates a string per number: a listing writes four dates a session).
    private mutating func appendDigits(_ value: Int64, _ width: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        // The power of ten of the leading digit (at most 10^18: Int64's magnitude is below 10^19).
        var power: UInt64 = 1
        var count = 1
        while magnitude / power >= 10 {
            power *= 10
            count += 1
        }
        if width > count { bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - count)) }
        while power > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude / power % 10))
            power /= 10
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// How many bytes each byte's escape adds to a string: none for most, 1 for `"`, `\` and the
    /// control characters with a letter of their own, 5 for the other control characters (`\u00XX`);
    /// `/` is 1 only when slashes are escaped.
    private static let escapeWidths: [UInt8] = (0...255).map { byte in
        switch byte {
        case 0x22, 0x5C, 0x08, 0x09, 0x0A, 0x0C, 0x0D: 1
        case 0..<0x20: 5
        default: 0
        }
    }

    /// Whether a byte of `utf8` may need an escape (below 0x20, `"`, `\`, or `/` when slashes are
    /// escaped), tested eight bytes at a time: about a byte's instructions for every eight, where
    /// the byte-by-byte measure below takes six a byte. Never false for a string that needs an
    /// escape (each word test is exact: a word has a byte below `n`, or a zero byte, exactly when
    /// it answers nonzero); true sends the string to that exact measure.
    private static func mayNeedEscape(_ utf8: UnsafeBufferPointer<UInt8>, slashes: Bool) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ word: UInt64) -> Bool { (word &- ones) & ~word & highs != 0 }
        func hasByteBelow0x20(_ word: UInt64) -> Bool { (word &- ones &* 0x20) & ~word & highs != 0 }
        let raw = UnsafeRawBufferPointer(utf8)
        var offset = 0
        while offset + 8 <= raw.count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            if hasByteBelow0x20(word) || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
                || (slashes && hasZeroByte(word ^ (ones &* 0x2F)))
            {
                return true
            }
            offset += 8
        }
        while offset < raw.count {
            let byte = raw[offset]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C || (slashes && byte == 0x2F) { return true }
            offset += 1
        }
        return false
    }

    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        let slashes = escapesSlashes
        // A string that needs no escape, nearly every one, is copied whole. One that does is
        // measured, then written into room made for it at once (a seccomp profile inside a
        // create's body escapes a quote every seven bytes: an append per escape cost more).
        var value = value
        value.withUTF8 { utf8 in
            guard Self.mayNeedEscape(utf8, slashes: slashes) else {
                bytes.append(contentsOf: utf8)
                return
            }
            Self.escapeWidths.withUnsafeBufferPointer { widths in
                func added(_ byte: UInt8) -> Int {
                    byte == UInt8(ascii: "/") ? (slashes ? 1 : 0) : Int(widths[Int(byte)])
                }
                var extra = 0
                for byte in utf8 { extra &+= added(byte) }
                guard extra > 0 else {
                    bytes.append(contentsOf: utf8)
                    return
                }
                var at = bytes.count
                bytes.append(contentsOf: repeatElement(0, count: utf8.count + extra))
                bytes.withUnsafeMutableBufferPointer { text in
                    for byte in utf8 {
                        let width = added(byte)
                        if width == 0 {
                            text[at] = byte
                            at += 1
                            continue
                        }
                        text[at] = UInt8(ascii: "\\")
                        switch byte {
                        case 0x08: text[at + 1] = UInt8(ascii: "b")
                        case 0x09: text[at + 1] = UInt8(ascii: "t")
                        case 0x0A: text[at + 1] = UInt8(ascii: "n")
                        case 0x0C: text[at + 1] = UInt8(ascii: "f")
                        case 0x0D: text[at + 1] = UInt8(ascii: "r")
                        case 0..<0x20:
                            text[at + 1] = UInt8(ascii: "u")
                            text[at + 2] = UInt8(ascii: "0")
                            text[at + 3] = UInt8(ascii: "0")
                            text[at + 4] = Self.hexDigits[Int(byte >> 4)]
                            text[at + 5] = Self.hexDigits[Int(byte & 0xF)]
                        default: text[at + 1] = byte
                        }
                        at += 1 + width
                    }
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
