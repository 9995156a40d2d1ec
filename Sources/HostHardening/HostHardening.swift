import CCap
import CSeccomp
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's own hardening after start-up: with libcap it keeps only the capabilities it
/// needs (effective, permitted and bounding set; inheritable and ambient empty), with libseccomp
/// it installs a filter that makes the system calls it never needs fail with `EPERM`.
///
/// Capabilities are per thread on Linux (`capset`, `PR_CAPBSET_DROP` change the calling thread
/// only), so ``apply(_:)`` must run while the process has a single thread: before the Swift
/// concurrency pool, NIO, libcurl or Dispatch start any. It refuses otherwise. Every thread made
/// afterwards inherits the reduced sets and the filter. The seccomp filter is also loaded with
/// `SCMP_FLTATR_CTL_TSYNC`, which would synchronise it onto any other thread. Child processes
/// (the `mount`, `losetup` and `mkfs.ext4` tools of workspace size limits) inherit both: a root
/// child gets at most the bounding set.
public enum HostHardening {
    /// What the configuration makes the daemon need beyond its fixed set.
    public struct Needs: Sendable, Equatable, CustomStringConvertible {
        /// The daemon makes mounts the engine must see: loop-mounted workspace images
        /// (`paths.workspace_images`) or workspaces bound into warm-pool slots. Keeps
        /// `CAP_SYS_ADMIN`, `CAP_SYS_RESOURCE` (online growth of an image) and the mount system calls.
        public var mounts: Bool
        /// A TCP listener on a port below 1024. Keeps `CAP_NET_BIND_SERVICE`.
        public var privilegedPort: Bool
        /// Workspace limits are project quotas: keeps `CAP_SYS_ADMIN` (quotactl's `Q_SETQUOTA` and
        /// `Q_GETQUOTA` check it) and `quotactl_fd`, but none of the mount calls.
        public var projectQuotas: Bool

        public init(mounts: Bool, privilegedPort: Bool = false, projectQuotas: Bool = false) {
            self.mounts = mounts
            self.privilegedPort = privilegedPort
            self.projectQuotas = projectQuotas
        }

        public var description: String {
            "mounts: \(mounts), privileged port: \(privilegedPort), project quotas: \(projectQuotas)"
        }
    }

    /// One capability the daemon keeps, and why.
    public struct Capability: Sendable, Equatable {
        public var name: String
        public var value: Int32
        public var reason: String
    }

    /// The capabilities kept for `needs`, each with its reason.
    public static func capabilities(for needs: Needs) -> [Capability] {
        var kept = [
            Capability(
                name: "cap_chown", value: CAP_CHOWN,
                reason: "hands each workspace directory to its sandbox uid, and the API socket to its group"),
            Capability(
                name: "cap_dac_override", value: CAP_DAC_OVERRIDE,
                reason: "reads, sizes and deletes workspace files that belong to sandbox uids"),
            Capability(
                name: "cap_fowner", value: CAP_FOWNER,
                reason: "deletes inside sticky directories a sandbox made, and sets modes on files it does not own"),
        ]
        if needs.mounts || needs.projectQuotas {
            kept.append(
                Capability(
                    name: "cap_sys_admin", value: CAP_SYS_ADMIN,
                    reason: needs.mounts
                        ? "loop-mounts workspace images and binds workspaces into warm-pool slots (mount, losetup)"
                            + (needs.projectQuotas ? "; sets workspaces' project quotas (quotactl_fd)" : "")
                        : "sets and reads workspaces' project quotas (quotactl_fd Q_SETQUOTA/Q_GETQUOTA)"))
        }
        if needs.mounts {
            kept.append(
                Capability(
                    name: "cap_sys_resource", value: CAP_SYS_RESOURCE,
                    reason: "grows a mounted workspace image online (resize2fs; ext4's resize ioctl checks it)"))
        }
        if needs.privilegedPort {
            kept.append(
                Capability(
                    name: "cap_net_bind_service", value: CAP_NET_BIND_SERVICE,
                    reason: "listens on the configured TCP port below 1024"))
        }
        return kept
    }

    /// System calls the daemon never makes; the filter answers them with `EPERM`.
    public static func deniedSystemCalls(for needs: Needs) -> [String] {
        var names = [
            // debugging and reading other processes' memory
            "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "perf_event_open",
            // replacing or stopping the kernel
            "kexec_load", "kexec_file_load", "reboot",
            // kernel modules
            "init_module", "finit_module", "delete_module",
            // eBPF, the kernel keyring, userfaultfd (a favourite of kernel exploits)
            "bpf", "keyctl", "add_key", "request_key", "userfaultfd",
            // swap, accounting, quotas, the kernel log, the clock
            "swapon", "swapoff", "acct", "quotactl", "syslog",
            "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
            // execution domains, I/O ports, namespaces, file handles (the "shocker" escape)
            "personality", "iopl", "ioperm", "unshare", "setns", "open_by_handle_at",
            "chroot", "pivot_root", "vhangup", "lookup_dcookie", "uselib", "fanotify_init",
        ]
        if !needs.projectQuotas {
            names.append("quotactl_fd")
        }
        if !needs.mounts {
            names += ["mount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick"]
        }
        return names
    }

    /// What ``apply(_:)`` did.
    public struct Report: Sendable {
        public var kept: [Capability]
        /// The denied system calls this architecture has.
        public var denied: [String]
        /// Whether the bounding set holds only `kept` (false: it was larger and CAP_SETPCAP missing).
        public var boundingSetReduced: Bool
    }

    /// Drops every capability not in ``capabilities(for:)`` and installs the seccomp filter.
    public static func apply(_ needs: Needs) throws(HardeningError) -> Report {
        let threads = threadIDs(of: "self")
        guard threads.count == 1 else {
            throw HardeningError(
                step: "count threads",
                problem: "the process already has \(threads.count) threads and capabilities are per thread",
                fix: "harden before the Swift concurrency pool, NIO or libcurl start threads (first thing in main)")
        }
        let kept = capabilities(for: needs)
        let boundingReduced = try dropCapabilities(keeping: Set(kept.map(\.value)))
        let denied = try installFilter(denying: deniedSystemCalls(for: needs))
        return Report(kept: kept, denied: denied, boundingSetReduced: boundingReduced)
    }

    /// Returns whether the bounding set was cut to `keep`.
    static func dropCapabilities(keeping keep: Set<Int32>) throws(HardeningError) -> Bool {
        // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. Without
        // CAP_SETPCAP (the systemd unit's bounding set already is the daemon's set; a daemon run
        // unprivileged has nothing to lose) the bounding set stays: the no-new-privileges flag the
        // filter sets keeps a child from gaining, through exec, what the daemon dropped
        // (the kernel caps an exec's permitted set at the parent's).
        let last = Int32(cap_max_bits()) - 1
        let bounding = last >= 0 ? (0...last).filter { prctl_capbset_read($0) == 1 } : []
        let boundingReduced = holdsEffective(CAP_SETPCAP)
        if boundingReduced {
            for value in bounding where !keep.contains(value) {
                if cap_drop_bound(cap_value_t(value)) != 0 {
                    let reason = errno
                    throw HardeningError(
                        step: "drop \(capabilityName(value)) from the bounding set", errno: reason,
                        fix: "run the daemon with CAP_SETPCAP (the unit's CapabilityBoundingSet= has it), or with --no-self-harden")
                }
            }
        }
        if cap_reset_ambient() != 0 && errno != EINVAL {
            throw HardeningError(step: "clear the ambient capabilities", errno: errno, fix: "run on Linux 4.3 or later")
        }
        guard let current = cap_get_proc() else {
            throw HardeningError(step: "read the process's capabilities", errno: errno, fix: "check that /proc is mounted")
        }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        guard let wanted = cap_init() else {
            throw HardeningError(step: "allocate a capability set", errno: errno, fix: "the machine is out of memory")
        }
        defer { cap_free(UnsafeMutableRawPointer(wanted)) }
        // Keep what we are asked to keep and still hold; never raise anything.
        var values: [cap_value_t] = keep.sorted().compactMap { value in
            var held = CAP_CLEAR
            guard cap_get_flag(current, cap_value_t(value), CAP_PERMITTED, &held) == 0, held == CAP_SET else { return nil }
            return cap_value_t(value)
        }
        if !values.isEmpty {
            let count = Int32(values.count)
            guard cap_set_flag(wanted, CAP_PERMITTED, count, &values, CAP_SET) == 0,
                cap_set_flag(wanted, CAP_EFFECTIVE, count, &values, CAP_SET) == 0
            else {
                throw HardeningError(step: "build the capability set", errno: errno, fix: "report this as a bug")
            }
        }
        guard cap_set_proc(wanted) == 0 else {
            throw HardeningError(step: "set the process's capabilities", errno: errno, fix: "run with --no-self-harden to investigate")
        }
        return boundingReduced || bounding.allSatisfy(keep.contains)
    }

    static func installFilter(denying names: [String]) throws(HardeningError) -> [String] {
        guard let filter = seccomp_init(sc_scmp_act_allow()) else {
            throw HardeningError(step: "create the seccomp filter", errno: ENOMEM, fix: "check that libseccomp works (seccomp supported by the kernel)")
        }
        defer { seccomp_release(filter) }
        let deny = sc_scmp_act_errno(UInt16(EPERM))
        // Other ABIs of this machine (x32, i386 on x86_64) are refused outright, not run unfiltered.
        _ = seccomp_attr_set(filter, SCMP_FLTATR_ACT_BADARCH, deny)
        // Also onto any thread that already exists (there should be none).
        guard seccomp_attr_set(filter, SCMP_FLTATR_CTL_TSYNC, 1) == 0 else {
            throw HardeningError(step: "ask for thread synchronisation of the filter", errno: EINVAL, fix: "use a kernel with SECCOMP_FILTER_FLAG_TSYNC (3.17+)")
        }
        var denied: [String] = []
        for name in names {
            let number = seccomp_syscall_resolve_name(name)
            guard number != __NR_SCMP_ERROR else { continue }  // not on this architecture
            let added = sc_seccomp_rule_add_array(filter, deny, number, 0, nil)
            guard added == 0 else {
                throw HardeningError(step: "deny \(name)", errno: -added, fix: "report this as a bug")
            }
            denied.append(name)
        }
        let loaded = seccomp_load(filter)
        guard loaded == 0 else {
            throw HardeningError(
                step: "load the seccomp filter", errno: -loaded,
                fix: "the kernel needs CONFIG_SECCOMP_FILTER; or run with --no-self-harden")
        }
        return denied
    }

    static func holdsEffective(_ value: Int32) -> Bool {
        guard let current = cap_get_proc() else { return false }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        var held = CAP_CLEAR
        return cap_get_flag(current, cap_value_t(value), CAP_EFFECTIVE, &held) == 0 && held == CAP_SET
    }

    /// `cap_chown` for CAP_CHOWN, as libcap names it.
    public static func capabilityName(_ value: Int32) -> String {
        guard let text = cap_to_name(cap_value_t(value)) else { return "cap_\(value)" }
        defer { cap_free(UnsafeMutableRawPointer(text)) }
        return String(cString: text)
    }

    static func prctl_capbset_read(_ value: Int32) -> Int32 {
        sc_prctl_capbset_read(value)
    }

    /// The thread ids under `/proc/<pid>/task`.
    public static func threadIDs(of pid: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).sorted()
    }
}

/// A hardening step that failed: which, why, and what to do.
public struct HardeningError: Error, Sendable, CustomStringConvertible {
    public var step: String
    public var problem: String
    public var fix: String

    public init(step: String, problem: String, fix: String) {
        self.step = step
        self.problem = problem
        self.fix = fix
    }

    init(step: String, errno code: Int32, fix: String) {
        self.init(step: step, problem: String(cString: strerror(code)), fix: fix)
    }

    public var description: String { "self-hardening failed to \(step): \(problem); \(fix)" }
}
