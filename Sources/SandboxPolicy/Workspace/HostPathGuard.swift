/// Host paths a workspace (or the workspace root) must never be, be inside, or contain.
package enum HostPathGuard {
    /// Where the engine's API socket lives on Debian and most distributions.
    static let dockerSockets = ["/var/run/docker.sock", "/run/docker.sock"]

    /// System trees: a workspace inside one would expose or let a sandbox change the host, and one
    /// that contains one (`/`, `/var`) would expose all of it.
    static let systemTrees = [
        "/proc", "/sys", "/dev", "/run", "/var/run", "/etc", "/boot", "/root", "/usr", "/bin", "/sbin", "/lib",
        "/lib64", "/var/lib/docker", "/var/lib/containerd",
    ]

    package enum Refusal: Equatable {
        case dockerSocket(String)
        case systemTree(String)
    }

    /// Why `path` (absolute, normalised) may not be mounted into a sandbox, or nil when it may.
    package static func refusal(for path: String) -> Refusal? {
        func overlaps(_ protected: String) -> Bool {
            path == "/" || path == protected || path.hasPrefix(protected + "/") || protected.hasPrefix(path + "/")
        }
        if let socket = dockerSockets.first(where: overlaps) { return .dockerSocket(socket) }
        if let tree = systemTrees.first(where: overlaps) { return .systemTree(tree) }
        return nil
    }

    /// Whether `path` is absolute with no empty, `.` or `..` component and no trailing slash.
    package static func isNormalizedAbsolute(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.utf8.contains(0) else { return false }
        if path == "/" { return true }
        let components = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return !components.contains { $0.isEmpty || $0 == "." || $0 == ".." }
    }
}
