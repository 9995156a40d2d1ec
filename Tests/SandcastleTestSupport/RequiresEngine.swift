import Foundation
import SandcastleDaemon
import Testing

/// Whether the Docker engine the tests would use answers: `DOCKER_HOST` (a unix socket), else
/// `/var/run/docker.sock`. Checked once, by connecting to the socket.
public enum TestEngine {
    public static let socketPath: String = {
        let host = ProcessInfo.processInfo.environment["DOCKER_HOST"] ?? ""
        return host.hasPrefix("unix://") ? String(host.dropFirst("unix://".count)) : "/var/run/docker.sock"
    }()

    public static let isReachable = Daemon.socketAnswers(socketPath)
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
