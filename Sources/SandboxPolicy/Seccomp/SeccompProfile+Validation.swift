import TOMLConfig
import CSeccomp
import Glibc

/// Checks a seccomp profile with libseccomp itself, so a profile that would fail inside the engine
/// at container start is refused when the policy loads.
enum SeccompValidator {
    /// The architectures every system call name is checked against.
    static let checkedArchitectures: [(name: String, token: UInt32)] = [
        ("x86_64", sc_scmp_arch_x86_64()), ("aarch64", sc_scmp_arch_aarch64()),
    ]

    /// Reports to `log` every problem of `profile`:
    /// - the default action must refuse (an allowlist), `errnoRet` only with `SCMP_ACT_ERRNO`;
    /// - architecture names must be libseccomp's, `architectures` and `archMap` not both;
    /// - each name must be a system call on x86_64 or aarch64 (`seccomp_syscall_resolve_name_arch`
    ///   gives a number >= 0). A name on only one of them (`open`, `fork`: x86_64 only) is fine: the
    ///   engine skips names its architecture lacks. A name on neither (a typo, or a 32-bit-only call
    ///   such as `chown32`) is refused;
    /// - the whole filter must compile: `seccomp_init` and `seccomp_rule_add_array` for each rule on
    ///   the native architecture, then `seccomp_release`; the filter is never loaded.
    static func check(_ profile: SeccompProfile, log: ProblemLog) {
        if profile.defaultAction.permitsCall {
            log.report(
                "defaultAction", value: profile.defaultAction.rawValue,
                "a Sandcastle profile is an allowlist: the default must refuse (SCMP_ACT_ERRNO with errno 1)")
        }
        if profile.defaultErrnoRet != nil, profile.defaultAction != .errno {
            log.report("defaultErrnoRet", "only meaningful with defaultAction SCMP_ACT_ERRNO; remove it")
        }
        checkArchitectures(profile, log: log)
        for (index, rule) in profile.syscalls.enumerated() {
            if rule.errnoRet != nil, rule.action != .errno {
                log.report("syscalls[\(index)].errnoRet", "only meaningful with action SCMP_ACT_ERRNO; remove it")
            }
            for (nameIndex, name) in rule.names.enumerated() where !isKnownSyscall(name) {
                log.report(
                    "syscalls[\(index)].names[\(nameIndex)]", value: name,
                    "not a system call on x86_64 or aarch64 (misspelt, or 32-bit only); remove it")
            }
        }
        if log.isEmpty { compile(profile, log: log) }
    }

    /// Whether `name` is a system call (not a libseccomp pseudo-call) on x86_64 or aarch64.
    static func isKnownSyscall(_ name: String) -> Bool {
        checkedArchitectures.contains { seccomp_syscall_resolve_name_arch($0.token, name) >= 0 }
    }

    private static func checkArchitectures(_ profile: SeccompProfile, log: ProblemLog) {
        if profile.architectures != nil, profile.archMap != nil {
            log.report("archMap", "the engine refuses a profile with both architectures and archMap; keep one")
        }
        var named: [(field: String, name: String)] = []
        for (index, name) in (profile.architectures ?? []).enumerated() {
            named.append(("architectures[\(index)]", name))
        }
        for (index, entry) in (profile.archMap ?? []).enumerated() {
            named.append(("archMap[\(index)].architecture", entry.architecture))
            for (subIndex, name) in (entry.subArchitectures ?? []).enumerated() {
                named.append(("archMap[\(index)].subArchitectures[\(subIndex)]", name))
            }
        }
        for (field, name) in named where architectureToken(name) == nil {
            log.report(
                field, value: name,
                "unknown architecture; write SCMP_ARCH_ and libseccomp's name, e.g. SCMP_ARCH_X86_64")
        }
    }

    /// libseccomp's token for `SCMP_ARCH_X86_64` and the like.
    static func architectureToken(_ name: String) -> UInt32? {
        guard name.hasPrefix("SCMP_ARCH_") else { return nil }
        let token = seccomp_arch_resolve_name(name.dropFirst("SCMP_ARCH_".count).lowercased())
        return token == 0 ? nil : token
    }

    private static func compile(_ profile: SeccompProfile, log: ProblemLog) {
        let defaultErrno = UInt16(clamping: profile.defaultErrnoRet ?? UInt32(EPERM))
        guard let context = seccomp_init(actionValue(profile.defaultAction, errno: defaultErrno)) else {
            log.report(
                "defaultAction", value: profile.defaultAction.rawValue, "libseccomp refused it as a default action")
            return
        }
        defer { seccomp_release(context) }
        for (index, rule) in profile.syscalls.enumerated() {
            let action = actionValue(rule.action, errno: rule.errnoRet.map { UInt16(clamping: $0) } ?? defaultErrno)
            for (nameIndex, name) in rule.names.enumerated() {
                let number = seccomp_syscall_resolve_name(name)
                // Not a system call of this machine's architecture: the engine skips it too.
                guard number >= 0 else { continue }
                for comparisons in comparisonGroups(rule.args ?? []) {
                    let rc = comparisons.withUnsafeBufferPointer { buffer in
                        sc_seccomp_rule_add_array(context, action, number, UInt32(buffer.count), buffer.baseAddress)
                    }
                    if rc < 0 {
                        let reason =
                            rc == -EACCES ? "the rule's action is the default action" : String(cString: strerror(-rc))
                        log.report(
                            "syscalls[\(index)].names[\(nameIndex)]", value: name,
                            "libseccomp refused the rule (\(reason)); fix the rule's action or args")
                    }
                }
            }
        }
    }

    /// The engine (runc) adds one rule with all comparisons, unless an argument index appears twice:
    /// then each comparison becomes a rule of its own (any of them matching is enough).
    static func comparisonGroups(_ args: [SeccompArgument]) -> [[scmp_arg_cmp]] {
        let comparisons = args.map { arg in
            scmp_arg_cmp(
                arg: arg.index, op: scmp_compare(rawValue: operatorValue(arg.op)), datum_a: arg.value,
                datum_b: arg.valueTwo ?? 0)
        }
        let indices = Set(args.map(\.index))
        return indices.count == args.count ? [comparisons] : comparisons.map { [$0] }
    }

    private static func operatorValue(_ op: SeccompOperator) -> UInt32 {
        switch op {
        case .notEqual: SCMP_CMP_NE.rawValue
        case .lessThan: SCMP_CMP_LT.rawValue
        case .lessOrEqual: SCMP_CMP_LE.rawValue
        case .equal: SCMP_CMP_EQ.rawValue
        case .greaterOrEqual: SCMP_CMP_GE.rawValue
        case .greaterThan: SCMP_CMP_GT.rawValue
        case .maskedEqual: SCMP_CMP_MASKED_EQ.rawValue
        }
    }

    private static func actionValue(_ action: SeccompAction, errno: UInt16) -> UInt32 {
        switch action {
        case .allow: sc_scmp_act_allow()
        case .errno: sc_scmp_act_errno(errno)
        case .kill, .killThread: sc_scmp_act_kill_thread()
        case .killProcess: sc_scmp_act_kill_process()
        case .trap: sc_scmp_act_trap()
        case .log: sc_scmp_act_log()
        }
    }
}
