import Foundation
import Glibc
import SandcastleTestSupport

/// Whether this process is the copy of the test bundle that `LimiterInContainerTests` started
/// inside a container, and may therefore mount.
///
/// Mounting and loop devices are only ever exercised inside that container, never on the host. The
/// host side passes its own mount namespace (`/proc/self/ns/mnt`) in
/// `SANDCASTLE_QUOTA_HOST_MNTNS`; this side refuses to mount unless the variable is set and names
/// another namespace than its own. (`/.dockerenv` proves nothing: this development host has one.)
enum InContainer {
    static let hostNamespaceVariable = "SANDCASTLE_QUOTA_HOST_MNTNS"
    static let scratchVariable = "SANDCASTLE_QUOTA_SCRATCH"

    static var isInside: Bool {
        let environment = ProcessInfo.processInfo.environment
        guard let host = environment[hostNamespaceVariable], !host.isEmpty, let own = MountTable.namespace,
            environment[scratchVariable] != nil
        else { return false }
        return host != own && getuid() == 0
    }

    /// The directory the host shares with the container for this run.
    static var scratch: String {
        ProcessInfo.processInfo.environment[scratchVariable] ?? "/nonexistent"
    }
}
