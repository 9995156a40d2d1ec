import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import SessionStore
import Sessions
import Synchronization
import Workspaces

/// A session manager on the real engine, with its own store, workspace root and daemon instance
/// (so tests running side by side never touch each other's containers).
public struct ManagerFixture: Sendable {
    public let client: DockerClient
    public let store: SessionStore
    public let manager: SessionManager
    /// The warm pool, when the fixture was made with one.
    public let pool: WarmPool?
    public let directory: String
    public let instance: String
    public let policies: PolicySet

    /// The parts of a manager built elsewhere (by the daemon's composition root).
    public init(
        client: DockerClient, store: SessionStore, manager: SessionManager, pool: WarmPool?, directory: String,
        instance: String, policies: PolicySet
    ) {
        self.client = client
        self.store = store
        self.manager = manager
        self.pool = pool
        self.directory = directory
        self.instance = instance
        self.policies = policies
    }

    public static var image: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest"
    }

    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var policiesDirectory: String { repositoryRoot.appendingPathComponent("Policies").path }

    /// The engine at `DOCKER_HOST`, checked to have the test image.
    public static func connect() async throws -> DockerClient {
        do {
            let client = try await DockerClient.connect(.fromEnvironment())
            _ = try await client.inspectImage(image)
            return client
        } catch {
            throw FixtureError(
                description: "these tests need a Docker engine with the test image \(image): \(error). "
                    + "Run `scripts/test`, which starts an engine and builds the image.")
        }
    }

    /// A warm pool for the fixture's manager, built the way the daemon builds it.
    public struct PoolOptions: Sendable {
        public var gate: String
        public var targets: [PoolTarget]
        public var mounter: any SlotMounter
        public var metrics: any PoolMetrics

        public init(gate: String, targets: [PoolTarget], mounter: any SlotMounter, metrics: any PoolMetrics = NoPoolMetrics()) {
            self.gate = gate
            self.targets = targets
            self.mounter = mounter
            self.metrics = metrics
        }
    }

    public static func make(
        clock: any SessionClock = SystemSessionClock(), engineConcurrency: Int = 8, maximumStoreBytes: Int64? = nil,
        directory existing: String? = nil, instance existingInstance: String? = nil, client engine: DockerClient? = nil,
        sizeLimiter: (any WorkspaceSizeLimiter)? = nil, pool poolOptions: PoolOptions? = nil,
        terminals: (any SessionTerminals)? = nil
    ) async throws -> ManagerFixture {
        let client: DockerClient
        if let engine { client = engine } else { client = try await connect() }
        let instance = existingInstance ?? "test-\(UUID().uuidString.prefix(8).lowercased())"
        let directory = existing ?? "/tmp/sandcastle-\(instance)"
        try FileManager.default.createDirectory(atPath: directory + "/workspaces", withIntermediateDirectories: true)
        var configuration = SessionStore.Configuration(directory: directory + "/state", daemonInstance: instance)
        configuration.maximumSizeBytes = maximumStoreBytes
        let store = try SessionStore(configuration)
        let policies = try PolicySet.load(directory: policiesDirectory)
        let current = Swappable(policies)
        let limited = LimitedEngine(client, limit: engineConcurrency)
        let pool = poolOptions.map { options in
            WarmPool(
                configuration: .init(
                    root: directory + "/pool", gate: GateMount(hostPath: options.gate), daemonInstance: instance,
                    readyTimeout: .seconds(30), targets: options.targets),
                engine: limited, store: store, mounter: options.mounter, policies: current, metrics: options.metrics,
                logger: Logger(label: "test.pool"))
        }
        let manager = SessionManager(
            configuration: .init(daemonInstance: instance, stopGrace: .seconds(2)),
            engine: limited, store: store, policies: current,
            workspaces: try WorkspaceResolver(root: directory + "/workspaces"), sizeLimiter: sizeLimiter, pool: pool,
            terminals: terminals, clock: clock, logger: Logger(label: "test.sessions"))
        return ManagerFixture(
            client: client, store: store, manager: manager, pool: pool, directory: directory, instance: instance,
            policies: policies)
    }

    public func request(
        _ workspace: String, command: [String] = ["sleep", "3600"], profile: String = "default", ttl: Int? = nil,
        idle: Int? = nil, env: [String] = []
    ) -> SessionLaunchRequest {
        SessionLaunchRequest(
            image: Self.image, profile: profile, workspace: workspace, command: command, env: env, ttlSeconds: ttl,
            idleTimeoutSeconds: idle)
    }

    /// This instance's containers in the engine.
    public func containers() async throws -> [ContainerSummary] {
        var filters = DockerFilters()
        filters.label(SandcastleLabels.instance, instance)
        return try await client.listContainers(all: true, filters: filters)
    }

    /// Removes every container of this instance and the fixture's files.
    public func tearDown() async {
        for container in (try? await containers()) ?? [] {
            try? await client.removeContainer(container.id, force: true)
        }
        try? store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `body` with the fixture, tearing it down afterwards whatever happens.
    public static func with<T>(
        clock: any SessionClock = SystemSessionClock(), engineConcurrency: Int = 8, maximumStoreBytes: Int64? = nil,
        _ body: (ManagerFixture) async throws -> T
    ) async throws -> T {
        let fixture = try await make(clock: clock, engineConcurrency: engineConcurrency, maximumStoreBytes: maximumStoreBytes)
        do {
            let result = try await body(fixture)
            await fixture.tearDown()
            return result
        } catch {
            await fixture.tearDown()
            throw error
        }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// A clock the test moves by hand.
public final class ManualClock: SessionClock {
    public init() {}

    private let current = Mutex(Date())

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// Polls `condition` until it holds; fails with `what` after `timeout`.
public func eventually(
    _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw FixtureError(description: "timed out after \(timeout) waiting for \(what)")
}
