/// A parsed document value, the same shape for TOML profiles, seccomp JSON and request JSON.
///
/// Everything we read goes through this tree first, so that one reader can check types, refuse
/// unknown keys and report every problem with its path, which `Codable` (first error wins) cannot.
package enum ConfigNode: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// A JSON integer above `Int64.max` (seccomp argument values are unsigned 64-bit).
    case largeInteger(UInt64)
    case float(Double)
    case string(String)
    case array([ConfigNode])
    case table([String: ConfigNode])
    /// A value we have no use for (a TOML date or time), kept so it can be named in an error.
    case unsupported(kind: String, text: String)

    /// The kind of value, as an error message names it.
    package var kind: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer, .largeInteger: "integer"
        case .float: "number"
        case .string: "string"
        case .array: "array"
        case .table: "table"
        case .unsupported(let kind, _): kind
        }
    }

    /// The value as written, shortened to fit in an error message.
    package var rendered: String {
        let text: String
        switch self {
        case .null: text = "null"
        case .bool(let value): text = String(value)
        case .integer(let value): text = String(value)
        case .largeInteger(let value): text = String(value)
        case .float(let value): text = String(value)
        case .string(let value): text = "\"\(value)\""
        case .array(let values): text = "[" + values.map(\.rendered).joined(separator: ", ") + "]"
        case .table(let entries):
            text =
                "{"
                + entries.keys.sorted().map { "\($0) = \(entries[$0]?.rendered ?? "")" }
                .joined(separator: ", ") + "}"
        case .unsupported(_, let value): text = value
        }
        return text.count > 120 ? String(text.prefix(117)) + "..." : text
    }
}

extension ConfigNode: Decodable {
    /// Decodes any JSON value. Each failed attempt costs a thrown `DecodingError` (with its message
    /// built), so the kinds a request is made of come first: strings, then tables and arrays, then
    /// booleans and numbers. The JSON decoder never reads one kind as another (`true` is not a
    /// number, `1` not a boolean, `"1"` neither), so only the numbers' order matters: an integer is
    /// tried as `Int64`, then `UInt64`, before it is read as a `Double`.
    ///
    /// Tables and arrays are read through the decoder's keyed and unkeyed containers rather than
    /// as `[String: ConfigNode]` and `[ConfigNode]`, whose generic decoding cost a launch request
    /// a fifth more; and an error inside one (a number out of range) is reported where it is.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let table = try? decoder.container(keyedBy: AnyKey.self) {
            var entries: [String: ConfigNode] = [:]
            for key in table.allKeys {
                entries[key.stringValue] = try table.decode(ConfigNode.self, forKey: key)
            }
            self = .table(entries)
        } else if var array = try? decoder.unkeyedContainer() {
            var values: [ConfigNode] = []
            while !array.isAtEnd { values.append(try array.decode(ConfigNode.self)) }
            self = .array(values)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .largeInteger(value)
        } else {
            self = .float(try container.decode(Double.self))
        }
    }

    /// Any key of a JSON object.
    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
