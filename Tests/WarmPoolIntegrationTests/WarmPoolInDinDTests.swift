import SandcastleTestSupport
import Testing

/// From the host: runs the warm pool's integration tests inside Docker-in-Docker
/// (`scripts/dind`), where their slot mounts cannot touch the host's mount table, and expects
/// every one to pass there. The gate is built first (the repository is mounted at the same path).
@Suite("Warm pool in Docker-in-Docker", .enabled(if: InDinD.canLaunch))
struct WarmPoolInDinDTests {
    @Test func poolTestsPassInsideDockerInDocker() async throws {
        _ = try GateBinary.path()
        try await InDinD.expectPasses(filter: "WarmPoolInsideTests|WarmPoolDaemonInsideTests", count: 4)
    }
}
