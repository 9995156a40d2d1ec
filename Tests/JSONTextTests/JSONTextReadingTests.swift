import Foundation
import JSONText
import Testing

/// The store reads its JSON columns back with `JSONText`'s reader; rows written before it (by
/// `JSONEncoder`) and rows damaged outside the daemon must read as `JSONDecoder` read them: the
/// same values, or an error. Two differences, both where `JSONDecoder` is laxer than RFC 8259: a
/// key given twice is an error (it kept the first value), and so is a comma before a closing
/// bracket (it skipped it).
@Suite("JSON text, read back")
struct JSONTextReadingTests {
    static let valid: [String] = [
        "[]", "{}", " [ ] ", "\n{\t}\r\n",
        #"["a","b"]"#, #" [ "a" , "b" ] "#, #"{"k":"v"}"#, #"{ "k" : "v" , "l":"" }"#,
        #"["\u00e9\u00E9\uD83D\uDE00\"\\\/\b\f\n\r\t","\u0000x","é😀","e\u0301"]"#,
        #"{"\u006b":"\n","😀":"\ud83d\ude00"}"#,
    ]

    static let invalid: [String] = [
        "", " ", "[", "]", "[,]", #"["a" "b"]"#, "[1]", "[null]", "[true]", #"[["a"]]"#,
        #"["a"]x"#, #"["a"] ["b"]"#, "[]]", #"{"a":1}"#, #"{"a"}"#, #"{"a" "b"}"#,
        #"{"a":"b"}}"#, #"{1:"b"}"#, #"["\u12"]"#, #"["\uZZZZ"]"#, #"["\u12G4"]"#, #"["\q"]"#,
        #"["\uD800"]"#, #"["\uDC00"]"#, #"["\uD800\u0041"]"#, #"["\uD800x"]"#, "[\"a\u{01}\"]",
        "[\"tab\there\"]", "[\"new\nline\"]", #"["abc"#, #"["a\"#, #"["a\""#, "null", #""a""#,
    ]

    static func decoded<Value: Decodable>(_ text: String, as type: Value.Type) -> Value? {
        try? JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }

    @Test("reads what JSONDecoder reads, and refuses what it refuses")
    func sameAsDecoder() {
        for text in Self.valid + Self.invalid {
            let strings = try? JSONText.strings(reading: text)
            #expect(strings == Self.decoded(text, as: [String].self), "strings: \(text.debugDescription)")
            let map = try? JSONText.stringMap(reading: text)
            #expect(map == Self.decoded(text, as: [String: String].self), "string map: \(text.debugDescription)")
        }
        // The corpus exercises both sides: each valid text is one of the two shapes.
        for text in Self.valid {
            #expect((try? JSONText.strings(reading: text)) != nil || (try? JSONText.stringMap(reading: text)) != nil)
        }
    }

    @Test("the writer's text reads back as the values it wrote")
    func roundTrip() throws {
        var awkward: [String] = ["", "a/b", "\"quoted\"", "back\\slash", "é", "e\u{301}", "\u{2028}", "😀 ok", "日本語"]
        var ascii = ""
        for byte in UInt8(0)..<0x80 { ascii.unicodeScalars.append(Unicode.Scalar(byte)) }
        awkward.append(ascii)
        for escaping in [false, true] {
            #expect(try JSONText.strings(reading: JSONText.strings(awkward, escapingSlashes: escaping)) == awkward)
            var map: [String: String] = [:]
            for (index, key) in awkward.enumerated() { map[key] = awkward[(index + 1) % awkward.count] }
            #expect(try JSONText.stringMap(reading: JSONText.stringMap(map, escapingSlashes: escaping)) == map)
        }
    }

    @Test("an error says where the text went wrong and what was expected there")
    func errors() {
        #expect(throws: JSONText.ReadError(offset: 5, reason: "expected a string")) {
            try JSONText.strings(reading: #"["a",]"#)
        }
        #expect(throws: JSONText.ReadError(offset: 9, reason: "expected a string")) {
            try JSONText.stringMap(reading: #"{"a":"b",}"#)
        }
        #expect(throws: JSONText.ReadError(offset: 5, reason: "expected ':' after an object's key")) {
            try JSONText.stringMap(reading: #"{"a" "b"}"#)
        }
        #expect(throws: JSONText.ReadError(offset: 2, reason: "a low surrogate escape without its high surrogate")) {
            try JSONText.strings(reading: #"["\uDC00"]"#)
        }
        #expect(throws: JSONText.ReadError(offset: 5, reason: "expected the end of the text")) {
            try JSONText.strings(reading: #"["a"]x"#)
        }
        #expect(throws: JSONText.ReadError(offset: 0, reason: "expected an array")) {
            try JSONText.strings(reading: #"{"a":"b"}"#)
        }
        #expect(throws: JSONText.ReadError(offset: 4, reason: "an escape that is not complete")) {
            try JSONText.strings(reading: #"["ab\"#)
        }
        #expect(throws: JSONText.ReadError(offset: 5, reason: "a string that is not closed")) {
            try JSONText.strings(reading: #"["a\""#)
        }
        #expect(throws: JSONText.ReadError(offset: 10, reason: "the key \"a\" given twice")) {
            try JSONText.stringMap(reading: #"{"a":"1", "a":"2"}"#)
        }
    }

    @Test("typed values: integers their type holds, booleans, null, and any value passed over")
    func typedValues() throws {
        func read<Value>(_ text: String, _ body: (inout JSONReader) throws(JSONText.ReadError) -> Value) throws(JSONText.ReadError) -> Value {
            try JSONReader.read(text, body)
        }
        #expect(try read(" -128 ") { reader throws(JSONText.ReadError) in try reader.integer(Int8.self) } == -128)
        #expect(try read("9223372036854775807") { reader throws(JSONText.ReadError) in try reader.integer(Int64.self) } == .max)
        #expect(throws: JSONText.ReadError(offset: 1, reason: "expected an integer that Int8 holds")) {
            try read(" 128") { reader throws(JSONText.ReadError) in try reader.integer(Int8.self) }
        }
        #expect(throws: JSONText.ReadError(offset: 0, reason: "expected an integer that Int holds")) {
            try read("1.0") { reader throws(JSONText.ReadError) in try reader.integer(Int.self) }
        }
        #expect(try read("false") { reader throws(JSONText.ReadError) in try reader.bool() } == false)
        #expect(throws: JSONText.ReadError(offset: 0, reason: "expected true or false")) {
            try read("null") { reader throws(JSONText.ReadError) in try reader.bool() }
        }
        #expect(try read(" null") { reader throws(JSONText.ReadError) in try reader.nullable { reader throws(JSONText.ReadError) in try reader.string() } } == nil)
        #expect(try read(#""n""#) { reader throws(JSONText.ReadError) in try reader.nullable { reader throws(JSONText.ReadError) in try reader.string() } } == "n")

        let skipped = #"[{"a":[1,-2.5e3,true,false,null,"\u00e9\"",{}],"b":{"c":[[]]}},"long string without escapes"]"#
        #expect(throws: Never.self) { try read(skipped) { reader throws(JSONText.ReadError) in try reader.skipValue() } }
        for broken in [#"[1,]"#, #"{"a":}"#, #""\q""#, "[tru]", "[1 2]"] {
            #expect(throws: JSONText.ReadError.self, "\(broken)") {
                try read(broken) { reader throws(JSONText.ReadError) in try reader.skipValue() }
            }
        }
        #expect(throws: JSONText.ReadError(offset: 2, reason: "arrays and objects nested too deep")) {
            try read("[[[1]]]") { reader throws(JSONText.ReadError) in try reader.skipValue(maximumDepth: 2) }
        }
    }
}
