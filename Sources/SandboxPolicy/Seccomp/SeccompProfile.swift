import Foundation

/// A seccomp profile in the Docker engine's JSON format (the text that follows `seccomp=` in
/// `HostConfig.SecurityOpt`).
///
/// Only the parts Sandcastle uses are modelled, and reading refuses any other key: the engine gets
/// this model re-encoded, so a key we did not model (`includes`, `excludes`, `minKernel`) would be
/// dropped silently and change the filter. Write such conditions as separate rules instead.
public struct SeccompProfile: Codable, Sendable, Equatable {
    public var comment: String?
    /// What a system call no rule matches gets. Sandcastle profiles are allowlists: never `ALLOW` or
    /// `LOG` here.
    public var defaultAction: SeccompAction
    /// The errno for `defaultAction` `SCMP_ACT_ERRNO` (the engine uses EPERM when absent).
    public var defaultErrnoRet: UInt32?
    /// Architectures to add to the filter; exclusive with `archMap`.
    public var architectures: [String]?
    /// Per native architecture, the architectures to add to the filter; exclusive with `architectures`.
    public var archMap: [ArchitectureMapping]?
    public var syscalls: [SeccompRule]

    public init(
        comment: String? = nil, defaultAction: SeccompAction, defaultErrnoRet: UInt32? = nil,
        architectures: [String]? = nil, archMap: [ArchitectureMapping]? = nil, syscalls: [SeccompRule]
    ) {
        self.comment = comment
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.archMap = archMap
        self.syscalls = syscalls
    }

    /// The profile as minified JSON with sorted keys: deterministic, and what the engine gets.
    public var minifiedJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a tree of strings, integers and arrays cannot fail.
        let data = (try? encoder.encode(self)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Every system call name a rule with this action lists, with where it is listed.
    func names(where include: (SeccompRule) -> Bool) -> [(name: String, field: String, rule: SeccompRule)] {
        syscalls.enumerated().flatMap { ruleIndex, rule in
            include(rule)
                ? rule.names.enumerated().map { ($1, "syscalls[\(ruleIndex)].names[\($0)]", rule) } : []
        }
    }
}

public struct ArchitectureMapping: Codable, Sendable, Equatable {
    /// `SCMP_ARCH_X86_64`, `SCMP_ARCH_AARCH64`, ...
    public var architecture: String
    /// Further architectures to add when the engine runs on `architecture` (32-bit variants). Empty
    /// in Sandcastle's profiles: 32-bit system calls are not in the filter at all.
    public var subArchitectures: [String]?

    public init(architecture: String, subArchitectures: [String]? = nil) {
        self.architecture = architecture
        self.subArchitectures = subArchitectures
    }
}

/// One entry of `syscalls`: the action for the named system calls, optionally only when the
/// argument comparisons in `args` all hold.
public struct SeccompRule: Codable, Sendable, Equatable {
    public var comment: String?
    public var names: [String]
    public var action: SeccompAction
    /// The errno for `SCMP_ACT_ERRNO` (38 = ENOSYS, 1 = EPERM).
    public var errnoRet: UInt32?
    public var args: [SeccompArgument]?

    public init(
        comment: String? = nil, names: [String], action: SeccompAction, errnoRet: UInt32? = nil,
        args: [SeccompArgument]? = nil
    ) {
        self.comment = comment
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.args = args
    }

    /// Whether the call runs when this rule matches.
    var permitsCall: Bool { action.permitsCall }
}

/// A comparison of one system call argument. For `SCMP_CMP_MASKED_EQ`, `value` is the mask and
/// `valueTwo` the value the masked argument must equal.
public struct SeccompArgument: Codable, Sendable, Equatable {
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64?
    public var op: SeccompOperator

    public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: SeccompOperator) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// The actions a Sandcastle profile may use. `SCMP_ACT_TRACE` and `SCMP_ACT_NOTIFY` are left out:
/// they hand the decision to a tracer or a listener that a sandbox does not have.
public enum SeccompAction: String, Codable, Sendable, CaseIterable {
    case allow = "SCMP_ACT_ALLOW"
    case errno = "SCMP_ACT_ERRNO"
    case kill = "SCMP_ACT_KILL"
    case killThread = "SCMP_ACT_KILL_THREAD"
    case killProcess = "SCMP_ACT_KILL_PROCESS"
    case trap = "SCMP_ACT_TRAP"
    case log = "SCMP_ACT_LOG"

    /// Whether a call this action applies to runs (`LOG` lets it run and only logs it).
    public var permitsCall: Bool { self == .allow || self == .log }
}

public enum SeccompOperator: String, Codable, Sendable, CaseIterable {
    case notEqual = "SCMP_CMP_NE"
    case lessThan = "SCMP_CMP_LT"
    case lessOrEqual = "SCMP_CMP_LE"
    case equal = "SCMP_CMP_EQ"
    case greaterOrEqual = "SCMP_CMP_GE"
    case greaterThan = "SCMP_CMP_GT"
    case maskedEqual = "SCMP_CMP_MASKED_EQ"
}
