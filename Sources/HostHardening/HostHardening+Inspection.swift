import CSeccomp
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension HostHardening {
    /// The security fields of one thread's `/proc/<pid>/task/<tid>/status`.
    public struct ThreadSecurity: Sendable, Equatable, CustomStringConvertible {
        public var thread: String
        public var name: String
        /// `Seccomp:` 0 none, 1 strict, 2 filter.
        public var seccomp: Int
        public var noNewPrivileges: Bool
        public var effective: UInt64
        public var permitted: UInt64
        public var inheritable: UInt64
        public var bounding: UInt64
        public var ambient: UInt64

        public var description: String {
            "thread \(thread) (\(name)): Seccomp \(seccomp), NoNewPrivs \(noNewPrivileges ? 1 : 0), "
                + "CapEff \(hex(effective)), CapPrm \(hex(permitted)), CapBnd \(hex(bounding)), "
                + "CapInh \(hex(inheritable)), CapAmb \(hex(ambient))"
        }

        private func hex(_ value: UInt64) -> String { String(format: "%016llx", value) }
    }

    /// Every thread of process `pid` (`"self"` for this one), read from `/proc`.
    public static func threads(of pid: String = "self") -> [ThreadSecurity] {
        threadIDs(of: pid).compactMap { tid in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else {
                return nil  // the thread ended meanwhile
            }
            return parseStatus(text, thread: tid)
        }
    }

    /// Parses the fields ``ThreadSecurity`` holds out of a `status` file.
    public static func parseStatus(_ text: String, thread: String) -> ThreadSecurity {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func mask(_ key: String) -> UInt64 { fields[key].flatMap { UInt64($0, radix: 16) } ?? 0 }
        return ThreadSecurity(
            thread: thread, name: fields["Name"] ?? "", seccomp: fields["Seccomp"].flatMap { Int($0) } ?? 0,
            noNewPrivileges: fields["NoNewPrivs"] == "1", effective: mask("CapEff"), permitted: mask("CapPrm"),
            inheritable: mask("CapInh"), bounding: mask("CapBnd"), ambient: mask("CapAmb"))
    }

    /// The capability mask of `capabilities`, as `/proc` shows it.
    public static func mask(of capabilities: [Capability]) -> UInt64 {
        capabilities.reduce(0) { $0 | (1 << UInt64($1.value)) }
    }

    /// One denied call tried by ``probeDeniedCalls()``.
    public struct Probe: Sendable, CustomStringConvertible {
        public var call: String
        /// The call's result (-1 on failure).
        public var result: Int
        /// `errno` when it failed, else 0.
        public var errno: Int32

        public var description: String {
            result == -1 ? "\(call): \(String(cString: strerror(errno))) (errno \(errno))" : "\(call): returned \(result)"
        }
    }

    /// Tries calls the filter denies, with arguments that do no harm when a call is let through:
    /// without the filter `ptrace` answers ESRCH (no such process), `keyctl` returns the thread
    /// keyring's id, `personality` returns the current persona (a query) and `setns(-1, 0)`
    /// answers EBADF, so EPERM from these shows the filter at work, not a missing capability.
    public static func probeDeniedCalls() -> [Probe] {
        let probes: [(String, [Int])] = [
            ("ptrace", [2 /* PTRACE_PEEKDATA */, Int(Int32.max), 0, 0]),
            ("keyctl", [0 /* KEYCTL_GET_KEYRING_ID */, -1 /* KEY_SPEC_THREAD_KEYRING */, 0, 0]),
            ("personality", [0xffff_ffff, 0, 0, 0]),
            ("setns", [-1, 0, 0, 0]),
            ("bpf", [5 /* BPF_PROG_LOAD */, 0, 0, 0]),
            ("kexec_load", [0, 0, 0, 0]),
            ("init_module", [0, 0, 0, 0]),
            ("swapoff", [0, 0, 0, 0]),
            ("userfaultfd", [0, 0, 0, 0]),
        ]
        return probes.compactMap { name, arguments in
            let number = seccomp_syscall_resolve_name(name)
            guard number != __NR_SCMP_ERROR else { return nil }
            errno = 0
            let result = sc_syscall4(Int(number), arguments[0], arguments[1], arguments[2], arguments[3])
            let code = result == -1 ? errno : 0
            if name == "userfaultfd", result >= 0 { close(Int32(result)) }
            return Probe(call: name, result: result, errno: code)
        }
    }
}
