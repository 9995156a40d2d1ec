import Foundation
import HostHardening
import Testing

@Suite("The daemon's own hardening: what it keeps and denies")
struct HostHardeningTests {
    @Test func capSysAdminOnlyWhenTheDaemonMounts() {
        let plain = HostHardening.capabilities(for: .init(mounts: false)).map(\.name)
        #expect(plain == ["cap_chown", "cap_dac_override", "cap_fowner"])
        let mounting = HostHardening.capabilities(for: .init(mounts: true)).map(\.name)
        #expect(mounting == plain + ["cap_sys_admin", "cap_sys_resource"])
        let lowPort = HostHardening.capabilities(for: .init(mounts: false, privilegedPort: true)).map(\.name)
        #expect(lowPort == plain + ["cap_net_bind_service"])
        // Names as libcap spells them, so the README and the logs match `capsh --decode`.
        for capability in HostHardening.capabilities(for: .init(mounts: true, privilegedPort: true)) {
            #expect(HostHardening.capabilityName(capability.value) == capability.name)
            #expect(!capability.reason.isEmpty)
        }
    }

    @Test func mountCallsAreDeniedUnlessMountsAreNeeded() {
        let plain = HostHardening.deniedSystemCalls(for: .init(mounts: false))
        let mounting = HostHardening.deniedSystemCalls(for: .init(mounts: true))
        #expect(plain.contains("mount") && plain.contains("umount2"))
        #expect(!mounting.contains("mount") && !mounting.contains("umount2"))
        for name in ["ptrace", "kexec_load", "init_module", "finit_module", "bpf", "reboot", "swapon", "keyctl", "userfaultfd", "personality"] {
            #expect(mounting.contains(name), "\(name)")
        }
        // Nothing the daemon itself uses.
        for name in ["clone", "clone3", "execve", "socket", "connect", "openat", "chown", "fchown", "capset", "prctl", "sendto"] {
            #expect(!plain.contains(name), "\(name)")
        }
    }

    @Test("project quotas keep CAP_SYS_ADMIN and quotactl_fd, and never the mount calls")
    func projectQuotasKeepOnlyWhatQuotactlNeeds() {
        let plain = HostHardening.capabilities(for: .init(mounts: false)).map(\.name)
        let quotas = HostHardening.capabilities(for: .init(mounts: false, projectQuotas: true)).map(\.name)
        #expect(quotas == plain + ["cap_sys_admin"])
        let denied = HostHardening.deniedSystemCalls(for: .init(mounts: false, projectQuotas: true))
        #expect(!denied.contains("quotactl_fd") && denied.contains("quotactl"))
        for name in ["mount", "umount2", "fsopen", "move_mount"] { #expect(denied.contains(name), "\(name)") }
        #expect(HostHardening.deniedSystemCalls(for: .init(mounts: false)).contains("quotactl_fd"))
        let both = HostHardening.capabilities(for: .init(mounts: true, projectQuotas: true)).map(\.name)
        #expect(both == plain + ["cap_sys_admin", "cap_sys_resource"])
    }

    @Test func readsTheSecurityFieldsOfAThreadStatus() {
        let text = """
            Name:\tNIO-ELT-0-#0
            Umask:\t0022
            NoNewPrivs:\t1
            Seccomp:\t2
            Seccomp_filters:\t1
            CapInh:\t0000000000000000
            CapPrm:\t000000000020000b
            CapEff:\t000000000020000b
            CapBnd:\t000000000020000b
            CapAmb:\t0000000000000000
            """
        let thread = HostHardening.parseStatus(text, thread: "42")
        #expect(thread.name == "NIO-ELT-0-#0")
        #expect(thread.seccomp == 2 && thread.noNewPrivileges)
        #expect(thread.effective == 0x20000b && thread.bounding == 0x20000b && thread.ambient == 0)
        #expect(HostHardening.mask(of: HostHardening.capabilities(for: .init(mounts: false))) == 0xb)
        #expect(HostHardening.mask(of: HostHardening.capabilities(for: .init(mounts: true))) == 0x120000b)
    }

    @Test func thisProcessIsReadable() {
        let threads = HostHardening.threads()
        #expect(!threads.isEmpty)
        #expect(threads.allSatisfy { !$0.name.isEmpty })
    }
}
