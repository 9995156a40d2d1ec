import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether the Docker engine the tests would use answers: `DOCKER_HOST` (a unix socket), else
/// `/var/run/docker.sock`. Checked once, by connecting to the socket.
public enum TestEngine {
    public static let socketPath: String = {
        let host = ProcessInfo.processInfo.environment["DOCKER_HOST"] ?? ""
        return host.hasPrefix("unix://") ? String(host.dropFirst("unix://".count)) : "/var/run/docker.sock"
    }()

    public static let isReachable: Bool = {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }()
}

extension Trait where Self == ConditionTrait {
    /// For suites that run containers on a real engine: without one they are skipped, with the
    /// reason, instead of failing. `scripts/test` starts an engine and runs them all.
    public static var requiresEngine: Self {
        .enabled(
            if: TestEngine.isReachable,
            "needs a Docker engine at \(TestEngine.socketPath) (DOCKER_HOST); scripts/test starts one and runs these suites")
    }
}
