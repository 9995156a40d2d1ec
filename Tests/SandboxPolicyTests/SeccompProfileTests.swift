import TOMLConfig
import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Seccomp profiles")
struct SeccompProfileTests {
    static let shippedPath = TestPaths.policies + "/seccomp/sandbox.json"

    func shipped() throws -> SeccompProfile {
        let log = ProblemLog()
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.shippedPath))
        let profile = SeccompProfile.parse(json: data, log: log)
        #expect(log.entries.isEmpty, "\(log.entries)")
        return try #require(profile)
    }

    /// The names this project must never allow unconditionally, written out here again on purpose:
    /// the test does not trust the code's own list.
    static let denied = [
        "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "perf_event_open", "keyctl", "add_key",
        "request_key", "bpf", "ptrace", "process_vm_readv", "process_vm_writev", "unshare", "setns", "mount", "umount2",
        "fsopen", "fsmount", "move_mount", "open_tree", "fsconfig", "fspick", "mount_setattr", "chroot", "pivot_root",
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
        "clock_settime", "settimeofday", "adjtimex", "clock_adjtime", "open_by_handle_at", "name_to_handle_at",
        "clone3", "modify_ldt", "lookup_dcookie", "quotactl", "vhangup", "acct", "iopl", "ioperm", "syslog",
        "fanotify_init", "sethostname", "setdomainname", "kcmp", "pidfd_getfd", "process_madvise",
    ]

    @Test("the shipped profile is an allowlist refusing with EPERM, native architectures only")
    func shape() throws {
        let profile = try shipped()
        #expect(profile.defaultAction == .errno)
        #expect(profile.defaultErrnoRet == 1)
        #expect(profile.architectures == nil)
        #expect(profile.archMap?.map(\.architecture) == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"])
        #expect(profile.archMap?.allSatisfy { $0.subArchitectures?.isEmpty ?? true } == true)
        #expect(profile.syscalls.allSatisfy { $0.action == .allow || $0.action == .errno })
    }

    @Test("every denied name is absent from the allowing rules", arguments: denied)
    func deniedNameIsNotAllowed(name: String) throws {
        let allowing = try shipped().syscalls.filter { $0.permitsCall && $0.names.contains(name) }
        #expect(allowing.isEmpty, "\(name) is allowed by \(allowing)")
    }

    @Test("clone3 fails with ENOSYS so glibc falls back to clone")
    func clone3() throws {
        let rules = try shipped().syscalls.filter { $0.names.contains("clone3") }
        #expect(rules == [SeccompRule(comment: rules.first?.comment, names: ["clone3"], action: .errno, errnoRet: 38)])
    }

    @Test("clone is allowed only without namespace flags (masked equality on argument 0)")
    func cloneMask() throws {
        let rules = try shipped().syscalls.filter { $0.names.contains("clone") }
        let expected = [SeccompArgument(index: 0, value: 0x7E02_0000, valueTwo: 0, op: .maskedEqual)]
        #expect(rules.count == 1)
        #expect(rules.first?.names == ["clone"])
        #expect(rules.first?.args == expected)
        // CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
        #expect(
            SeccompInvariants.namespaceCloneFlags == 0x0002_0000 + 0x0200_0000 + 0x0400_0000 + 0x0800_0000 + 0x1000_0000
                + 0x2000_0000 + 0x4000_0000)
    }

    @Test("socket is allowed only for AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (route)")
    func socketFamilies() throws {
        let rules = try shipped().syscalls.filter { $0.names.contains("socket") }
        #expect(rules.allSatisfy { $0.names == ["socket"] && $0.action == .allow })
        let families = rules.compactMap { $0.args?.first(where: { $0.index == 0 }) }
        #expect(families.allSatisfy { $0.op == .equal })
        #expect(Set(families.map(\.value)) == [1, 2, 10, 16])
        #expect(families.count == rules.count)
        let netlink = try #require(rules.first { $0.args?.first?.value == 16 })
        #expect(netlink.args?.contains(SeccompArgument(index: 2, value: 0, op: .equal)) == true)
        let pairs = try shipped().syscalls.filter { $0.names.contains("socketpair") }
        #expect(pairs.map { $0.args ?? [] } == [[SeccompArgument(index: 0, value: 1, op: .equal)]])
    }

    @Test("personality is allowed only for Docker's safe values")
    func personality() throws {
        let rules = try shipped().syscalls.filter { $0.names.contains("personality") }
        let values = rules.flatMap { $0.args ?? [] }
        #expect(rules.allSatisfy { $0.args?.count == 1 })
        #expect(values.allSatisfy { $0.index == 0 && $0.op == .equal })
        #expect(Set(values.map(\.value)) == [0, 8, 0x20000, 0x20008, 0xffff_ffff])
    }

    @Test(
        "what ordinary programs need stays allowed",
        arguments: [
            "read", "write", "openat", "execve", "wait4", "futex", "mmap", "clone", "fork", "vfork", "pipe2", "dup3",
            "epoll_wait", "poll", "getdents64", "statx", "newfstatat", "rename", "unlinkat", "connect", "bind",
            "accept4",
            "getrandom", "rseq", "prlimit64", "memfd_create", "inotify_init1", "setsid", "ioctl", "kill", "faccessat2",
            "fchmodat2", "close_range", "arch_prctl", "sched_getaffinity", "set_robust_list", "copy_file_range",
            "seccomp",
        ])
    func allowed(name: String) throws {
        #expect(try shipped().syscalls.contains { $0.permitsCall && $0.names.contains(name) })
    }

    @Test("the shipped profile passes libseccomp and the invariants")
    func validates() throws {
        let log = ProblemLog()
        let profile = try shipped()
        SeccompValidator.check(profile, log: log)
        SeccompInvariants.check(profile, log: log)
        #expect(log.entries.isEmpty, "\(log.entries)")
    }

    @Test("names: known on one architecture is fine, on neither is refused")
    func nameResolution() {
        #expect(SeccompValidator.isKnownSyscall("open"))  // x86_64 only
        #expect(SeccompValidator.isKnownSyscall("openat"))
        #expect(!SeccompValidator.isKnownSyscall("chown32"))  // 32-bit only: a libseccomp pseudo number
        #expect(!SeccompValidator.isKnownSyscall("opne"))
    }

    @Test("every problem is reported with its field path")
    func problemsWithPaths() throws {
        let json = """
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_NOPE"}],
             "syscalls": [
               {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
               {"names": ["close", "opne", "chown32"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5},
               {"names": ["unshare"], "action": "SCMP_ACT_ALLOW"},
               {"names": ["clone"], "action": "SCMP_ACT_ALLOW"},
               {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 17, "op": "SCMP_CMP_EQ"}]}
             ]}
            """
        let log = ProblemLog()
        let profile = try #require(SeccompProfile.parse(json: Data(json.utf8), log: log))
        SeccompValidator.check(profile, log: log)
        SeccompInvariants.check(profile, log: log)
        let fields = log.entries.map(\.field)
        #expect(fields.contains("defaultAction"))
        #expect(fields.contains("archMap"))
        #expect(fields.contains("archMap[0].architecture"))
        #expect(fields.contains("syscalls[1].errnoRet"))
        #expect(log.entries.contains { $0.field == "syscalls[1].names[1]" && $0.value == "opne" })
        #expect(log.entries.contains { $0.field == "syscalls[1].names[2]" && $0.value == "chown32" })
        #expect(fields.contains("syscalls[2].names[0]"))  // unshare
        #expect(fields.contains("syscalls[3].names[0]"))  // clone without the mask
        #expect(fields.contains("syscalls[4].names[0]"))  // socket(AF_PACKET)
    }

    @Test("unknown keys, wrong types and unsupported actions are refused at their path")
    func strictParsing() {
        let json = """
            {"defaultAction": "SCMP_ACT_ERRNO", "flags": [],
             "syscalls": [
               {"names": ["read"], "action": "SCMP_ACT_NOTIFY"},
               {"names": ["write"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
               {"names": "close", "action": "SCMP_ACT_ALLOW"},
               {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "value": -1, "op": "SCMP_CMP_FOO"}]}
             ]}
            """
        let log = ProblemLog()
        #expect(SeccompProfile.parse(json: Data(json.utf8), log: log) == nil)
        let fields = Set(log.entries.map(\.field))
        #expect(
            fields.isSuperset(of: [
                "flags", "syscalls[0].action", "syscalls[1].includes", "syscalls[2].names", "syscalls[3].args[0].index",
                "syscalls[3].args[0].value", "syscalls[3].args[0].op",
            ]))
    }

    @Test("libseccomp compiles the rules: a rule whose action is the default is refused")
    func compileFailure() throws {
        let profile = SeccompProfile(
            defaultAction: .errno, defaultErrnoRet: 1,
            syscalls: [
                SeccompRule(names: ["read"], action: .allow),
                SeccompRule(names: ["getpid"], action: .errno, errnoRet: 1),
            ])
        let log = ProblemLog()
        SeccompValidator.check(profile, log: log)
        #expect(log.entries.map(\.field) == ["syscalls[1].names[0]"])
    }

    @Test("a repeated argument index becomes one rule per comparison, as the engine does")
    func comparisonGroups() {
        let distinct = [
            SeccompArgument(index: 0, value: 16, op: .equal), SeccompArgument(index: 2, value: 0, op: .equal),
        ]
        #expect(SeccompValidator.comparisonGroups(distinct).map(\.count) == [2])
        let repeated = [
            SeccompArgument(index: 0, value: 1, op: .equal), SeccompArgument(index: 0, value: 2, op: .equal),
        ]
        #expect(SeccompValidator.comparisonGroups(repeated).map(\.count) == [1, 1])
    }

    @Test("allow_ptrace adds exactly the ptrace family")
    func ptraceSwitch() throws {
        let base = try shipped()
        let debug = SeccompInvariants.allowingPtrace(base)
        #expect(debug.syscalls.dropLast() == base.syscalls[...])
        #expect(debug.syscalls.last?.names == ["ptrace", "process_vm_readv", "process_vm_writev"])
        #expect(debug.syscalls.last?.action == .allow)
        let log = ProblemLog()
        SeccompValidator.check(debug, log: log)
        #expect(log.entries.isEmpty)
    }

    @Test("minified JSON round-trips and carries no whitespace between tokens")
    func minified() throws {
        let profile = try shipped()
        let text = profile.minifiedJSON
        #expect(!text.contains("\n"))
        #expect(!text.contains("\": "))
        let log = ProblemLog()
        #expect(SeccompProfile.parse(json: Data(text.utf8), log: log) == profile)
    }
}
