import Foundation
import Testing

@testable import TOMLConfig

/// Requests and seccomp profiles are read as JSON into `ConfigNode`: every kind must come back as
/// itself, and numbers at the narrowest type that holds them.
@Suite("JSON into ConfigNode")
struct ConfigNodeJSONTests {
    private func node(_ json: String) throws -> ConfigNode {
        try JSONDecoder().decode(ConfigNode.self, from: Data(json.utf8))
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
    }
}
