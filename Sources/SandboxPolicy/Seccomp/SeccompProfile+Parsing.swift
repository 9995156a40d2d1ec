import TOMLConfig
import Foundation

extension SeccompProfile {
    /// Parses the JSON text of a profile, reporting every problem (types, unknown keys, unknown
    /// actions) to `log` with its path. Returns nil when anything was reported.
    static func parse(json: Data, log: ProblemLog) -> SeccompProfile? {
        let node: ConfigNode
        do {
            node = try ConfigNode(json: json)
        } catch {
            log.report("", "not valid JSON: \(error)")
            return nil
        }
        guard let root = ConfigTable.root(node, log: log) else { return nil }
        let comment = root.string("comment", required: false)
        let defaultAction = root.string("defaultAction").flatMap { root.action($0, at: "defaultAction") }
        let defaultErrnoRet = root.integer("defaultErrnoRet", required: false).flatMap {
            root.errno($0, at: "defaultErrnoRet")
        }
        let architectures = root.strings("architectures", required: false)
        let archMap = root.tables("archMap", required: false)?.compactMap { entry -> ArchitectureMapping? in
            let architecture = entry.string("architecture")
            let subArchitectures = entry.strings("subArchitectures", required: false)
            entry.refuseUnknownKeys()
            return architecture.map { ArchitectureMapping(architecture: $0, subArchitectures: subArchitectures) }
        }
        let rules = root.tables("syscalls")?.compactMap(parseRule)
        root.refuseUnknownKeys()
        guard log.isEmpty, let defaultAction, let rules else { return nil }
        return SeccompProfile(
            comment: comment, defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet,
            architectures: architectures, archMap: archMap, syscalls: rules)
    }

    private static func parseRule(_ table: ConfigTable) -> SeccompRule? {
        let comment = table.string("comment", required: false)
        let names = table.strings("names")
        if names?.isEmpty == true { table.log.report(table.field("names"), "empty; list at least one system call") }
        let action = table.string("action").flatMap { table.action($0, at: table.field("action")) }
        let errnoRet = table.integer("errnoRet", required: false).flatMap {
            table.errno($0, at: table.field("errnoRet"))
        }
        let args = table.tables("args", required: false)?.compactMap(parseArgument)
        table.refuseUnknownKeys()
        guard let names, let action else { return nil }
        return SeccompRule(comment: comment, names: names, action: action, errnoRet: errnoRet, args: args)
    }

    private static func parseArgument(_ table: ConfigTable) -> SeccompArgument? {
        let index = table.integer("index")
        if let index, !(0...5).contains(index) {
            table.log.report(table.field("index"), value: String(index), "system calls have arguments 0 to 5")
        }
        let value = table.unsignedInteger("value")
        let valueTwo = table.unsignedInteger("valueTwo", required: false)
        let op = table.string("op").flatMap { text -> SeccompOperator? in
            if let op = SeccompOperator(rawValue: text) { return op }
            table.log.report(
                table.field("op"), value: text,
                "unknown comparison; use one of \(SeccompOperator.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        table.refuseUnknownKeys()
        guard let index, (0...5).contains(index), let value, let op else { return nil }
        return SeccompArgument(index: UInt32(index), value: value, valueTwo: valueTwo, op: op)
    }
}

extension ConfigTable {
    fileprivate func action(_ text: String, at field: String) -> SeccompAction? {
        if let action = SeccompAction(rawValue: text) { return action }
        let hint =
            text == "SCMP_ACT_TRACE" || text == "SCMP_ACT_NOTIFY"
            ? "it needs a tracer or a listener a sandbox does not have; "
            : ""
        log.report(
            field, value: text,
            "unsupported action; \(hint)use one of \(SeccompAction.allCases.map(\.rawValue).joined(separator: ", "))")
        return nil
    }

    fileprivate func errno(_ value: Int64, at field: String) -> UInt32? {
        guard (1...4095).contains(value) else {
            log.report(field, value: String(value), "an errno is 1 to 4095 (1 = EPERM, 38 = ENOSYS)")
            return nil
        }
        return UInt32(value)
    }

    /// A 64-bit unsigned integer (seccomp argument values and masks).
    fileprivate func unsignedInteger(_ key: String, required: Bool = true) -> UInt64? {
        guard let node = node(key, required: required) else { return nil }
        switch node {
        case .integer(let value) where value >= 0: return UInt64(value)
        case .largeInteger(let value): return value
        default:
            log.report(field(key), value: node.rendered, "expected an integer from 0 to 2^64-1, found \(node.kind)")
            return nil
        }
    }
}
