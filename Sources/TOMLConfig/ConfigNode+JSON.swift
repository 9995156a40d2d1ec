import Foundation
import JSONText

extension ConfigNode {
    /// Reads a JSON document (a launch request, a seccomp profile) into the tree.
    ///
    /// Read by ``JSONReader`` rather than `JSONDecoder`, a tenth of the instructions (a launch
    /// request is read on every launch), with the same values: an integer at the narrowest type
    /// that holds it (`Int64`, then `UInt64`; a number written with a fraction or an exponent
    /// counts when its value is a whole number, as `JSONDecoder` reads `1.0` or `1e2` as an
    /// integer), any other number a `Double`. A number no `Double` holds (`1e400`) is an error.
    ///
    /// - Throws: where the text stops being JSON, and why (a key given twice is refused).
    package init(json data: Data) throws(JSONText.ReadError) {
        self = try JSONReader.read(data) { reader throws(JSONText.ReadError) in try Self.value(&reader, depth: 0) }
    }

    private static func value(_ reader: inout JSONReader, depth: Int) throws(JSONText.ReadError) -> ConfigNode {
        switch reader.peek() {
        case UInt8(ascii: "\""):
            return .string(try reader.string())
        case UInt8(ascii: "["):
            guard depth < JSONReader.maximumDepth else { throw reader.failure("arrays and objects nested over \(JSONReader.maximumDepth) deep") }
            var values: [ConfigNode] = []
            try reader.elements(of: .array) { reader throws(JSONText.ReadError) in
                values.append(try value(&reader, depth: depth + 1))
            }
            return .array(values)
        case UInt8(ascii: "{"):
            guard depth < JSONReader.maximumDepth else { throw reader.failure("arrays and objects nested over \(JSONReader.maximumDepth) deep") }
            var entries: [String: ConfigNode] = [:]
            try reader.members { reader, key throws(JSONText.ReadError) in
                entries.updateValue(try value(&reader, depth: depth + 1), forKey: key) == nil
            }
            return .table(entries)
        case .some(UInt8(ascii: "-")), .some(UInt8(ascii: "0")...UInt8(ascii: "9")):
            return try number(&reader)
        default:
            return try reader.literal().map(ConfigNode.bool) ?? .null
        }
    }

    private static func number(_ reader: inout JSONReader) throws(JSONText.ReadError) -> ConfigNode {
        let (text, integral) = try reader.number()
        if integral {
            if let value = Int64(text) { return .integer(value) }
            if let value = UInt64(text) { return .largeInteger(value) }
        }
        guard let value = Double(text), value.isFinite else { throw reader.failure("a number no Double holds") }
        if !integral, value.rounded() == value {
            if let whole = Int64(exactly: value) { return .integer(whole) }
            if let whole = UInt64(exactly: value) { return .largeInteger(whole) }
        }
        return .float(value)
    }
}
