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
