/// Collects every problem found in one document; the readers of its nested tables share it.
package final class ProblemLog {
    package struct Entry: Equatable {
        package var field: String
        package var value: String?
        package var message: String
    }

    package private(set) var entries: [Entry] = []

    package init() {}

    package var isEmpty: Bool { entries.isEmpty }

    package func report(_ field: String, value: String? = nil, _ message: String) {
        entries.append(Entry(field: field, value: value, message: message))
    }
}

/// Reads the keys of one table, reporting a missing key, a value of the wrong type and, at the end,
/// every key nobody asked for. Each getter returns nil after reporting, so a caller reads all its
/// fields and only then decides whether the document was good.
package final class ConfigTable {
    /// The table's own path (`""` for the document root, `uids`, `syscalls[3]`).
    package let path: String
    package let log: ProblemLog
    private let entries: [String: ConfigNode]
    /// The keys asked for, in order, repeats included. An array: a table has a dozen keys, and a
    /// set's hashing and growth cost nearly a quarter of a launch request's decoding.
    private var readKeys: [String] = []

    package init(path: String, entries: [String: ConfigNode], log: ProblemLog) {
        self.path = path
        self.entries = entries
        self.log = log
    }

    /// The root table of a document, or nil (reported) when the document is not a table.
    package static func root(_ node: ConfigNode, log: ProblemLog) -> ConfigTable? {
        guard case .table(let entries) = node else {
            log.report("", value: node.rendered, "expected a table (an object) at the top level, found \(node.kind)")
            return nil
        }
        return ConfigTable(path: "", entries: entries, log: log)
    }

    package func field(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// Keys present in the table that no getter has read, sorted.
    package var unreadKeys: [String] {
        entries.keys.filter { !readKeys.contains($0) }.sorted()
    }

    /// Reports each unread key as unknown, naming the keys this table accepts.
    package func refuseUnknownKeys() {
        let known = Set(readKeys).sorted().joined(separator: ", ")
        for key in unreadKeys {
            log.report(field(key), "unknown key; remove it or use one of: \(known)")
        }
    }

    /// The raw value of `key`. A JSON `null` counts as absent.
    package func node(_ key: String, required: Bool) -> ConfigNode? {
        readKeys.append(key)
        guard let node = entries[key], node != .null else {
            if required { log.report(field(key), "missing; this key is required") }
            return nil
        }
        return node
    }

    package func string(_ key: String, required: Bool = true) -> String? {
        node(key, required: required).flatMap { expect($0, at: field(key), as: "a string", \.stringValue) }
    }

    package func integer(_ key: String, required: Bool = true) -> Int64? {
        node(key, required: required).flatMap { expect($0, at: field(key), as: "an integer", \.integerValue) }
    }

    /// A number; an integer is accepted where a fraction would be (`cpus = 2`).
    package func number(_ key: String, required: Bool = true) -> Double? {
        node(key, required: required).flatMap { expect($0, at: field(key), as: "a number", \.numberValue) }
    }

    package func bool(_ key: String, required: Bool = true) -> Bool? {
        node(key, required: required).flatMap { expect($0, at: field(key), as: "true or false", \.boolValue) }
    }

    package func table(_ key: String, required: Bool = true) -> ConfigTable? {
        guard let node = node(key, required: required) else { return nil }
        guard case .table(let entries) = node else {
            log.report(field(key), value: node.rendered, "expected a table, found \(node.kind)")
            return nil
        }
        return ConfigTable(path: field(key), entries: entries, log: log)
    }

    package func array(_ key: String, required: Bool = true) -> [ConfigNode]? {
        node(key, required: required).flatMap { expect($0, at: field(key), as: "an array", \.arrayValue) }
    }

    /// An array of strings. A wrong element is reported at `key[i]` and left out.
    package func strings(_ key: String, required: Bool = true) -> [String]? {
        guard let elements = array(key, required: required) else { return nil }
        return elements.enumerated().compactMap { index, element in
            expect(element, at: "\(field(key))[\(index)]", as: "a string", \.stringValue)
        }
    }

    /// An array of tables, each with its own reader at `key[i]`.
    package func tables(_ key: String, required: Bool = true) -> [ConfigTable]? {
        guard let elements = array(key, required: required) else { return nil }
        return elements.enumerated().compactMap { index, element in
            let path = "\(field(key))[\(index)]"
            guard case .table(let entries) = element else {
                log.report(path, value: element.rendered, "expected a table, found \(element.kind)")
                return nil
            }
            return ConfigTable(path: path, entries: entries, log: log)
        }
    }

    private func expect<T>(_ node: ConfigNode, at path: String, as what: String, _ get: (ConfigNode) -> T?) -> T? {
        if let value = get(node) { return value }
        log.report(path, value: node.rendered, "expected \(what), found \(node.kind)")
        return nil
    }
}

extension ConfigNode {
    package var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    package var integerValue: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    package var numberValue: Double? {
        switch self {
        case .float(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    package var boolValue: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }

    package var arrayValue: [ConfigNode]? {
        if case .array(let value) = self { value } else { nil }
    }
}
