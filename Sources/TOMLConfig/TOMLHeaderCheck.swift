/// Table headers that TOMLKit's parser (toml++ 3) cannot be given.
///
/// toml++ asserts, and so aborts the whole process, on a table header whose first key does not
/// start with a key character (`[[[`, `[.a]`, `[=]`, `[#]`, `[!]`): a typo in a policy file must
/// not kill the daemon at start-up or on SIGHUP, nor `sandcastle policy check`. This scan finds
/// such a header first and reports it like any other syntax error. It follows strings, comments
/// and multi-line arrays, so that a line starting with `[` inside a value is not taken for a header.
package enum TOMLHeaderCheck {
    package static func firstProblem(in text: String) -> TOMLSyntaxError? {
        let bytes = Array(text.utf8)
        var index = 0
        var line = 1
        var lineStart = 0
        var depth = 0  // open arrays and inline tables of the current value
        var atStatementStart = true

        func byte(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
        func startsWith(_ text: String) -> Bool {
            let pattern = Array(text.utf8)
            return index + pattern.count <= bytes.count && Array(bytes[index..<index + pattern.count]) == pattern
        }
        func newline() {
            line += 1
            lineStart = index + 1
        }
        /// Skips a string starting at `index`; returns with `index` on its last byte.
        func skipString(quote: UInt8) {
            let triple = String(repeating: Character(UnicodeScalar(quote)), count: 3)
            let multiline = startsWith(triple)
            index += multiline ? 3 : 1
            while index < bytes.count {
                let current = bytes[index]
                if current == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                    if byte(1) == UInt8(ascii: "\n") { index += 1; newline() } else { index += 1 }
                } else if multiline && startsWith(triple) {
                    index += 2
                    while byte(1) == quote { index += 1 }  // up to two quotes may close the content
                    return
                } else if !multiline && current == quote {
                    return
                } else if current == UInt8(ascii: "\n") {
                    if !multiline { index -= 1; return }  // unterminated: the parser reports it
                    newline()
                }
                index += 1
            }
        }

        while index < bytes.count {
            let current = bytes[index]
            if atStatementStart {
                if current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") || current == UInt8(ascii: "\r") {
                    index += 1
                    continue
                }
                atStatementStart = false
                if current == UInt8(ascii: "[") {
                    index += byte(1) == UInt8(ascii: "[") ? 2 : 1
                    while let next = byte(0), next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") { index += 1 }
                    if let first = byte(0), !Self.mayStartHeaderKey(first) {
                        let shown = first < 0x80 ? String(UnicodeScalar(first)) : "a non-ASCII character"
                        return TOMLSyntaxError(
                            message: "a table header must start with a key (letters, digits, '_', '-', or a quoted key), "
                                + "not '\(shown)'",
                            line: line, column: index - lineStart + 1)
                    }
                    // The rest of a header stays on its line.
                    while let next = byte(0), next != UInt8(ascii: "\n") { index += 1 }
                    continue
                }
            }
            switch current {
            case UInt8(ascii: "#"):
                while let next = byte(1), next != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                skipString(quote: current)
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            case UInt8(ascii: "\n"):
                newline()
                if depth == 0 { atStatementStart = true }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    package static func mayStartHeaderKey(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "]"),
            UInt8(ascii: "\n"), UInt8(ascii: "\r"):
            true
        default:
            false
        }
    }
}
