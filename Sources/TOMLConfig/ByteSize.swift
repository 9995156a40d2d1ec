/// Sizes in profiles: a number of bytes, or a string with a binary unit (`"512MiB"`, `"2GiB"`).
/// Decimal units (`MB`) are refused rather than guessed.
package enum ByteSize {
    private static let units: [(suffix: String, factor: Int64)] = [
        ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1),
    ]

    /// The number of bytes `text` names, or nil when it is not `<digits><unit>`.
    package static func parse(_ text: String) -> Int64? {
        let trimmed = text.trimmingSpaces
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            let digits = trimmed.dropLast(suffix.count).trimmingSpaces
            guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let count = Int64(digits) else { return nil }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: factor)
            return overflow ? nil : bytes
        }
        return nil
    }

    /// The size in the form Docker's log options take (`1m`, `512k`, or plain bytes).
    package static func engineString(_ bytes: Int64) -> String {
        for (suffix, factor) in [("g", Int64(1) << 30), ("m", 1 << 20), ("k", 1 << 10)]
        where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return String(bytes)
    }

    /// `536870912` -> `512 MiB`, for messages.
    package static func human(_ bytes: Int64) -> String {
        for (suffix, factor) in units where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor) \(suffix)"
        }
        return "\(bytes) B"
    }
}

extension ConfigTable {
    /// A size in bytes: an integer, or a string such as `"64MiB"`.
    package func byteSize(_ key: String, required: Bool = true) -> Int64? {
        guard let node = node(key, required: required) else { return nil }
        switch node {
        case .integer(let bytes):
            return bytes
        case .string(let text):
            if let bytes = ByteSize.parse(text) { return bytes }
            log.report(
                field(key), value: node.rendered, "not a size; write bytes or a binary unit, e.g. \"512MiB\", \"2GiB\"")
            return nil
        default:
            log.report(field(key), value: node.rendered, "expected a size such as \"512MiB\", found \(node.kind)")
            return nil
        }
    }
}
