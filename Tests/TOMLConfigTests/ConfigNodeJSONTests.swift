import Foundation
import JSONText
import Testing

@testable import TOMLConfig

/// Requests and seccomp profiles are read as JSON into `ConfigNode`: every kind must come back as
/// itself, numbers at the narrowest type that holds them, and any text read as `JSONDecoder` read
/// it when the daemon used it (the same tree, or an error).
@Suite("JSON into ConfigNode")
struct ConfigNodeJSONTests {
    private func node(_ json: String) throws -> ConfigNode {
        try ConfigNode(json: Data(json.utf8))
    }

    @Test func everyKindComesBackAsItself() throws {
        let decoded = try node(
            #"{"s": "1", "t": true, "f": false, "i": -3, "u": 18446744073709551615, "d": 1.5, "n": null, "#
                + #""a": [1, "x", [], {}], "o": {"k": {"deep": [null]}}}"#)
        #expect(
            decoded
                == .table([
                    "s": .string("1"), "t": .bool(true), "f": .bool(false), "i": .integer(-3),
                    "u": .largeInteger(UInt64.max), "d": .float(1.5), "n": .null,
                    "a": .array([.integer(1), .string("x"), .array([]), .table([:])]),
                    "o": .table(["k": .table(["deep": .array([.null])])]),
                ]))
        #expect(try node("[]") == .array([]))
        #expect(try node(#""only""#) == .string("only"))
        #expect(try node("0") == .integer(0))
    }

    @Test func anIntegerIsReadAtTheNarrowestTypeThatHoldsIt() throws {
        #expect(try node("9223372036854775807") == .integer(Int64.max))
        #expect(try node("9223372036854775808") == .largeInteger(UInt64(Int64.max) + 1))
        #expect(try node("18446744073709551616") == .float(18446744073709551616))
        // One below Int64.min: no integer type holds it, and the nearest Double is Int64.min's.
        #expect(try node("-9223372036854775809") == .float(Double(Int64.min)))
        #expect(try node("2.5") == .float(2.5))
        // A whole number written with a fraction or an exponent is an integer, as JSONDecoder read it.
        #expect(try node("60.0") == .integer(60))
        #expect(try node("1e2") == .integer(100))
        #expect(try node("1e19") == .largeInteger(10_000_000_000_000_000_000))
    }

    static let corpus: [String] = [
        "null", "true", "false", "0", "-0", "-0.0", "1.0", "0.1e1", "1E+2", "1e-2", "1.5", "-12.25e-1",
        "123456789012345678901234567890", "1e308", "[1, 2.5, -3, true, null, \"x\"]",
        #"{"a": {"b": [{"c": "d"}]}, "e": []}"#, " \n\t{\"k\" :\r\n \"v\" } ",
        #"["\u00e9\uD83D\uDE00\"\\\/\b\f\n\r\t","é😀"]"#,
        // Not JSON.
        "", " ", "nul", "truex", "tru", "[", "{", "]", "[,1]", "[1 2]", #"{"a" 1}"#, #"{"a":}"#, #"{a:1}"#, "01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "1e400", "-1e400", "0x10", "NaN",
        "Infinity", "[1]]", "1 2", #""\uD800""#, "\"a\u{01}\"", #""\q""#, #""abc"#,
    ]

    /// `JSONDecoder` skips a comma before a closing bracket and keeps the first of two equal keys;
    /// the reader refuses both (RFC 8259 allows neither, and a request another reader would see
    /// differently is better refused).
    @Test("reads what JSONDecoder read: the same tree, or an error")
    func sameAsDecoder() {
        for text in Self.corpus {
            let read = try? node(text)
            let decoded = try? JSONDecoder().decode(DecoderNode.self, from: Data(text.utf8)).node
            #expect(read == decoded, "\(text.debugDescription)")
        }
        let nested = { (depth: Int) in String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        #expect((try? node(nested(JSONReader.maximumDepth))) != nil)
        let tooDeep = #expect(throws: JSONText.ReadError.self) { try node(nested(100_000)) }
        #expect(tooDeep?.offset == JSONReader.maximumDepth)
    }

    @Test("an error says where and what: bytes that are not UTF-8, a key given twice, a bad token")
    func errors() {
        var invalid = Data(#"{"a": "é"#.utf8)
        invalid.append(contentsOf: [0xFF, 0x22, 0x7D])
        #expect(throws: JSONText.ReadError(offset: 9, reason: "bytes that are not UTF-8")) {
            try ConfigNode(json: invalid)
        }
        #expect(throws: JSONText.ReadError(offset: 9, reason: "the key \"a\" given twice")) {
            try node(#"{"a": 1, "a": 2}"#)
        }
        #expect(throws: JSONText.ReadError(offset: 8, reason: "expected ',' or '}' in an object")) {
            try node(#"{"a": 1 "b": 2}"#)
        }
        #expect(throws: JSONText.ReadError(offset: 1, reason: "a number with a leading zero")) {
            try node("[01]")
        }
        #expect(throws: JSONText.ReadError(offset: 3, reason: "expected a value")) {
            try node("[1,]")
        }
    }
}

/// How the daemon read JSON documents before `ConfigNode(json:)`: through `JSONDecoder`, each kind
/// tried in turn (numbers as `Int64`, then `UInt64`, then `Double`). The tests' oracle.
private struct DecoderNode: Decodable {
    var node: ConfigNode

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            node = .null
        } else if let value = try? container.decode(String.self) {
            node = .string(value)
        } else if let table = try? decoder.container(keyedBy: AnyKey.self) {
            var entries: [String: ConfigNode] = [:]
            for key in table.allKeys { entries[key.stringValue] = try table.decode(DecoderNode.self, forKey: key).node }
            node = .table(entries)
        } else if var array = try? decoder.unkeyedContainer() {
            var values: [ConfigNode] = []
            while !array.isAtEnd { values.append(try array.decode(DecoderNode.self).node) }
            node = .array(values)
        } else if let value = try? container.decode(Bool.self) {
            node = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            node = .integer(value)
        } else if let value = try? container.decode(UInt64.self) {
            node = .largeInteger(value)
        } else {
            node = .float(try container.decode(Double.self))
        }
    }
}
