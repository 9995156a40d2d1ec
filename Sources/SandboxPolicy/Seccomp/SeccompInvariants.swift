import TOMLConfig

/// What no Sandcastle seccomp file may allow, whatever an operator writes. Loading a policy refuses a
/// file that breaks one of these; changing them is a code change, reviewed as such.
public enum SeccompInvariants {
    /// Never allowed, with or without argument conditions.
    public static let neverAllowed: Set<String> = [
        // Kernel attack surface with a long CVE history, or escape primitives.
        "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "perf_event_open", "bpf",
        "keyctl", "add_key", "request_key",
        // Namespaces and mounts: the container's own view of the system must not change.
        "unshare", "setns", "mount", "umount2", "fsopen", "fsmount", "move_mount", "open_tree", "fsconfig",
        "fspick", "mount_setattr", "chroot", "pivot_root",
        // The host kernel, its clock and its swap.
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
        "swapoff", "clock_settime", "settimeofday", "adjtimex", "clock_adjtime",
        // File handles bypass path permission checks (the "shocker" escape).
        "open_by_handle_at", "name_to_handle_at",
    ]

    /// Allowed only through a profile's `allow_ptrace` switch, never by the file itself.
    public static let ptraceFamily: [String] = ["ptrace", "process_vm_readv", "process_vm_writev"]

    /// `clone` flags that create namespaces: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER |
    /// NEWPID | NEWNET.
    public static let namespaceCloneFlags: UInt64 =
        0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000
        | 0x1000_0000 | 0x2000_0000 | 0x4000_0000

    /// `personality` values that are safe (Docker's list): PER_LINUX, PER_LINUX32, UNAME26,
    /// PER_LINUX32|UNAME26, and 0xffffffff (query). Others, such as ADDR_NO_RANDOMIZE or
    /// READ_IMPLIES_EXEC, weaken the process.
    public static let safePersonalities: Set<UInt64> = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]

    /// Socket families `socket` may create: AF_UNIX, AF_INET, AF_INET6, AF_NETLINK.
    public static let socketFamilies: Set<UInt64> = [1, 2, 10, 16]

    /// Reports every rule of `profile` that lets one of these calls run.
    static func check(_ profile: SeccompProfile, log: ProblemLog) {
        for (name, field, rule) in profile.names(where: \.permitsCall) {
            if neverAllowed.contains(name) {
                log.report(field, value: name, "Sandcastle never allows this system call; remove it")
            } else if ptraceFamily.contains(name) {
                log.report(
                    field, value: name, "allowed only by a profile's allow_ptrace switch; remove it from the file")
            } else if name == "clone3" {
                log.report(
                    field, value: name,
                    "clone3 cannot be filtered (its flags are in memory); give it SCMP_ACT_ERRNO with errnoRet 38")
            } else if let requirement = argumentRequirement(for: name), !requirement.isMet(by: rule.args ?? []) {
                log.report(field, value: name, requirement.message)
            }
        }
    }

    /// The argument condition a call needs before it may run, for the calls that have one.
    private static func argumentRequirement(for name: String) -> ArgumentRequirement? {
        switch name {
        case "clone":
            ArgumentRequirement(
                message: "clone must be allowed only with args [{index 0, op SCMP_CMP_MASKED_EQ, "
                    + "value \(namespaceCloneFlags) (all CLONE_NEW* flags), valueTwo 0}]",
                isMet: {
                    $0.index == 0 && $0.op == .maskedEqual && $0.value & namespaceCloneFlags == namespaceCloneFlags
                        && ($0.valueTwo ?? 0) == 0
                })
        case "personality":
            ArgumentRequirement(
                message: "personality must be allowed only with args [{index 0, op SCMP_CMP_EQ, value one of "
                    + "\(safePersonalities.sorted())}]",
                isMet: { $0.index == 0 && $0.op == .equal && safePersonalities.contains($0.value) })
        case "socket":
            ArgumentRequirement(
                message: "socket must be allowed only with args [{index 0, op SCMP_CMP_EQ, value one of "
                    + "\(socketFamilies.sorted()) (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK)}]",
                isMet: { $0.index == 0 && $0.op == .equal && socketFamilies.contains($0.value) })
        default:
            nil
        }
    }

    private struct ArgumentRequirement {
        var message: String
        var isMet: (SeccompArgument) -> Bool

        /// All comparisons of a rule hold together, so one comparison that pins the argument is
        /// enough, unless an index repeats: then the engine makes each comparison a rule of its own.
        func isMet(by args: [SeccompArgument]) -> Bool {
            let repeatsIndex = Set(args.map(\.index)).count != args.count
            return repeatsIndex ? !args.isEmpty && args.allSatisfy(isMet) : args.contains(where: isMet)
        }
    }

    /// The profile with the `allow_ptrace` switch applied: one more rule allowing the ptrace family.
    static func allowingPtrace(_ profile: SeccompProfile) -> SeccompProfile {
        var profile = profile
        profile.syscalls.append(
            SeccompRule(
                comment: "allow_ptrace: debuggers and strace (the profile's switch)", names: ptraceFamily,
                action: .allow))
        return profile
    }
}
