import Foundation
import JSONText
import Testing

/// `JSONText` must write what `JSONEncoder` writes for the same values: stored hashes and
/// columns were written by the encoder and are compared with the writer's text.
@Suite("JSON text")
struct JSONTextTests {
    static func encoder(escapingSlashes: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func encoded(_ value: some Encodable, escapingSlashes: Bool = false) throws -> String {
        String(decoding: try encoder(escapingSlashes: escapingSlashes).encode(value), as: UTF8.self)
    }

    /// Every ASCII byte, the named escapes among them, and multi-byte characters.
    static let awkward: [String] = {
        var ascii = ""
        for byte in UInt8(0)..<0x80 { ascii.unicodeScalars.append(Unicode.Scalar(byte)) }
        return [ascii, "", "a/b", "\"quoted\"", "back\\slash", "é", "e\u{301}", "\u{2028}\u{2029}", "😀 ok", "日本語"]
    }()

    @Test("strings and string arrays: the encoder's bytes, with and without escaped slashes")
    func strings() throws {
        for escaping in [false, true] {
            #expect(JSONText.strings(Self.awkward, escapingSlashes: escaping) == (try Self.encoded(Self.awkward, escapingSlashes: escaping)))
            #expect(JSONText.strings([]) == "[]")
        }
    }

    @Test("string maps: keys sorted as the encoder sorts them")
    func maps() throws {
        var map: [String: String] = [:]
        for (index, key) in (Self.awkward + ["B", "Z", "a", "a b", "aa", "b", "_", "~"]).enumerated() { map[key] = "\(index)/\(key)" }
        for escaping in [false, true] {
            #expect(JSONText.stringMap(map, escapingSlashes: escaping) == (try Self.encoded(map, escapingSlashes: escaping)))
        }
        #expect(JSONText.stringMap([:]) == "{}")
    }

    /// Every byte that takes an escape, at every position of the words the writer tests eight bytes
    /// at a time and of the bytes left after them, among ASCII and among multi-byte characters
    /// whose bytes differ from an escaped one only in their high bit.
    @Test("an escape anywhere in a long string")
    func escapesAtEveryPosition() throws {
        let escaped = (0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) } + ["\"", "\\", "/"]
        var strings: [String] = []
        for fill in ["a", "\u{A2}", "\u{DC}\u{AF}"] {
            let base = Array(String(repeating: fill, count: 26).prefix(26))
            for character in escaped {
                for position in 0..<base.count {
                    var characters = base
                    characters[position] = character
                    strings.append(String(characters))
                }
            }
            strings.append(String(base))
        }
        for escaping in [false, true] {
            #expect(JSONText.strings(strings, escapingSlashes: escaping) == (try Self.encoded(strings, escapingSlashes: escaping)))
        }
    }

    @Test("random strings, arrays and maps")
    func random() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aZ09 /\\\"\n\t\u{1}\u{1f}\u{7f}é€😀_-.:{}[],")
        func randomString() -> String {
            String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        for _ in 0..<300 {
            let array = (0..<Int.random(in: 0...5, using: &generator)).map { _ in randomString() }
            var map: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &generator) { map[randomString()] = randomString() }
            #expect(JSONText.strings(array) == (try Self.encoded(array)))
            #expect(JSONText.stringMap(map) == (try Self.encoded(map)))
            #expect(JSONText.stringMap(map, escapingSlashes: true) == (try Self.encoded(map, escapingSlashes: true)))
        }
    }

    struct Nested: Encodable {
        var count: Int
        var flag: Bool
        var labels: [String: String]
        var name: String
        var none: String?
        var tags: [String]
    }

    @Test("objects written member by member, nested, with integers and booleans; a nil member left out")
    func objects() throws {
        let value = Nested(
            count: -42, flag: true, labels: ["x": "1", "a": "/"], name: "n\u{0}", none: nil, tags: ["t", ""])
        var text = JSONText()
        text.beginObject()
        text.key("count")
        text.integer(value.count)
        text.key("flag")
        text.bool(value.flag)
        text.key("labels")
        text.stringMap(value.labels)
        text.member("name", value.name)
        text.member("none", value.none)
        text.member("tags", value.tags)
        text.endObject()
        #expect(text.text == (try Self.encoded(value)))

        var nulls = JSONText()
        nulls.beginArray()
        nulls.null()
        nulls.integer(UInt64.max)
        nulls.bool(false)
        nulls.beginObject()
        nulls.endObject()
        nulls.endArray()
        #expect(nulls.text == "[null,18446744073709551615,false,{}]")
    }

    @Test("integers and dates: the encoder's digits, signs and zero padding")
    func numbersAndDates() throws {
        let integers: [Int64] = [0, 7, -1, 10, -10, 1_000_000, Int64.min, Int64.max]
        var text = JSONText()
        text.beginArray()
        for value in integers { text.integer(value) }
        text.integer(UInt64.max)
        text.endArray()
        let expected = "[" + (integers.map { String($0) } + [String(UInt64.max)]).joined(separator: ",") + "]"
        #expect(text.text == expected)

        let encoder = Self.encoder(escapingSlashes: false)
        encoder.dateEncodingStrategy = .iso8601
        // The epoch, a moment with milliseconds (rounded down), single-digit fields, before 1970.
        let dates = [0, 1_796_500_800.999, 1_000_000_001, -86_400 * 365.0].map(Date.init(timeIntervalSince1970:))
        var written = JSONText()
        written.beginArray()
        for date in dates { written.date(date) }
        written.endArray()
        #expect(written.text == String(decoding: try encoder.encode(dates), as: UTF8.self))
    }

    /// The calendar arithmetic against Foundation's: every 97th day from 1601 to 2498 at a moving
    /// time of day, and the days around the leap days the rules of 4, 100 and 400 years decide.
    @Test func datesAcrossCenturiesMatchFoundation() throws {
        var seconds: [Double] = []
        for day in stride(from: -134_500, to: 193_000, by: 97) {
            let timeOfDay = (day * 7_919 % 86_400 + 86_400) % 86_400
            seconds.append(Double(day * 86_400 + timeOfDay))
        }
        for (year, month) in [(1900, 2), (2000, 2), (2024, 2), (2100, 2), (1970, 1), (1969, 12)] {
            var parts = DateComponents(timeZone: TimeZone(identifier: "UTC"), year: year, month: month, day: 28, hour: 23, minute: 59, second: 59)
            for _ in 0..<3 {
                seconds.append(Calendar(identifier: .gregorian).date(from: parts)!.timeIntervalSince1970)
                parts.day! += 1
            }
        }
        let dates = seconds.map(Date.init(timeIntervalSince1970:))
        let encoder = Self.encoder(escapingSlashes: false)
        encoder.dateEncodingStrategy = .iso8601
        var written = JSONText()
        written.beginArray()
        for date in dates { written.date(date) }
        written.endArray()
        #expect(written.text == String(decoding: try encoder.encode(dates), as: UTF8.self))
    }
}
