import TOMLKit

extension ConfigNode {
    /// Parses a TOML document into a tree. TOMLKit's types stay inside this file.
    ///
    /// - Returns: the document's root table, or the parser's message with its line and column.
    package static func parseTOML(_ text: String) -> Result<ConfigNode, TOMLSyntaxError> {
        if let problem = TOMLHeaderCheck.firstProblem(in: text) { return .failure(problem) }
        do {
            let table = try TOMLTable(string: text)
            return .success(ConfigNode(toml: table))
        } catch let error as TOMLParseError {
            return .failure(
                TOMLSyntaxError(
                    message: error.description, line: error.source.begin.line,
                    column: error.source.begin.column))
        } catch {
            return .failure(TOMLSyntaxError(message: String(describing: error), line: 0, column: 0))
        }
    }

    private init(toml value: any TOMLValueConvertible) {
        switch value.type {
        case .table:
            var entries: [String: ConfigNode] = [:]
            for (key, child) in value.table ?? TOMLTable() {
                entries[key] = ConfigNode(toml: child)
            }
            self = .table(entries)
        case .array:
            self = .array((value.array ?? TOMLArray()).map { ConfigNode(toml: $0) })
        case .string:
            self = .string(value.string ?? "")
        case .int:
            self = value.int.map { .integer(Int64($0)) } ?? .null
        case .double:
            self = value.double.map { .float($0) } ?? .null
        case .bool:
            self = value.bool.map { .bool($0) } ?? .null
        case .date, .time, .dateTime:
            self = .unsupported(kind: value.type.description, text: value.debugDescription)
        }
    }
}

/// A TOML document that does not parse.
package struct TOMLSyntaxError: Error, Equatable {
    package var message: String
    package var line: Int
    package var column: Int
}
