import TOMLConfig
import CCap
import Glibc

/// Capability names, checked with libcap.
public enum Capabilities {
    /// Capabilities no profile may grant: each one alone is enough to leave the sandbox or to reach
    /// the host kernel or other sandboxes.
    public static let neverGranted: Set<String> = [
        "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_BOOT", "CAP_SYS_TIME", "CAP_MAC_ADMIN",
        "CAP_MAC_OVERRIDE", "CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_DAC_READ_SEARCH",
        "CAP_AUDIT_CONTROL", "CAP_LINUX_IMMUTABLE", "CAP_SETFCAP", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The canonical name (`CAP_SYS_PTRACE`) of `name`, which may be written `CAP_SYS_PTRACE`,
    /// `SYS_PTRACE` or in lower case, as the engine accepts them; nil when libcap does not know it.
    ///
    /// Only letters and underscores pass: libcap also reads numbers (`"19"`) and lists
    /// (`"cap_chown,cap_kill"`), which a profile must not smuggle in.
    public static func canonicalName(_ name: String) -> String? {
        let upper = name.uppercased()
        let full = upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
        guard full.count > 4, full.utf8.allSatisfy({ $0.isUppercaseLetter || $0 == UInt8(ascii: "_") })
        else { return nil }
        var value: cap_value_t = 0
        guard cap_from_name(full.lowercased(), &value) == 0, let text = cap_to_name(value) else { return nil }
        defer { cap_free(text) }
        let resolved = String(cString: text).uppercased()
        // cap_to_name gives a number for a capability libcap has no name for.
        return resolved == full ? full : nil
    }
}
