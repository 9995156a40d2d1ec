import Foundation
import SandcastleConfig

extension Doctor {
    /// Egress: the per-session socket directories' parent (the daemon's, never writable by
    /// others: a session's socket in it is its only way out), and the in-container forwarder.
    static func egressChecks(_ configuration: DaemonConfiguration) -> [DoctorCheck] {
        let forwarder = configuration.egress.forwarder
        let forwarderCheck: DoctorCheck =
            FileManager.default.isExecutableFile(atPath: forwarder)
            ? .ok("egress forwarder", forwarder)
            : .warn(
                "egress forwarder", "\(forwarder) is missing: sessions of profiles with [egress] cannot start",
                fix: "scripts/build-gate (it builds the forwarder too), or set [egress] forwarder")
        return [directoryCheck("egress socket directory", configuration.egressDirectory, privateToOwner: false), forwarderCheck]
    }
}
