import AccessControl
import DockerEngine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SandboxPolicy
import Workspaces
import SandcastleAPI
import SandcastleConfig
import SandcastleDaemon
import SandcastleTestSupport
import Sessions
import TerminalRelay

/// The API over a real session manager and engine, with one key per role.
struct APIFixture: Sendable {
    let manager: ManagerFixture
    let dependencies: APIDependencies
    let relay: TerminalRelay
    static let keys: [Role: String] = [
        .viewer: "sc_viewer_" + String(repeating: "1", count: 40),
        .developer: "sc_developer_" + String(repeating: "2", count: 40),
        .admin: "sc_admin_" + String(repeating: "3", count: 40),
    ]
    static let otherDeveloperKey = "sc_developer2_" + String(repeating: "4", count: 40)

    static func make(
        perKeyBurst: Int = 10_000, perAddressBurst: Int = 10_000, maxBodyBytes: Int = 64 << 10,
        allowedOrigins: Set<String> = ["https://app.example.com", "ws://127.0.0.1"], viewerQueueBytes: Int = 1 << 20
    ) async throws -> APIFixture {
        _ = try await ManagerFixture.connect()
        let directory = "/tmp/sandcastle-api-\(UUID().uuidString.prefix(8).lowercased())"
        var configuration = DaemonConfiguration.defaults()
        configuration.stateDirectory = directory + "/state"
        configuration.workspaceRoot = directory + "/workspaces"
        configuration.policiesDirectory = ManagerFixture.policiesDirectory
        configuration.workspaceImageDirectory = nil
        configuration.stopGraceSeconds = 2
        configuration.apiKeys = keys.map { .init(name: "\($0.key.rawValue)-key", sha256: APIKeyring.sha256Hex(of: $0.value), role: $0.key.rawValue) }
        configuration.apiKeys.append(.init(name: "developer-2", sha256: APIKeyring.sha256Hex(of: otherDeveloperKey), role: "developer"))
        // A slow refill: a burst is limited however long the machine takes to send it.
        configuration.perKeyBurst = perKeyBurst
        configuration.perKeyPerSecond = 0.001
        configuration.perAddressBurst = perAddressBurst
        configuration.perAddressPerSecond = 1
        configuration.maxBodyBytes = maxBodyBytes
        configuration.allowedOrigins = allowedOrigins.sorted()
        configuration.viewerQueueBytes = viewerQueueBytes
        // A pool that is never run: its admin routes answer, and it never mounts (on this host).
        configuration.pool.root = directory + "/pool"
        configuration.pool.gate = directory + "/no-gate"
        var parts = Sandcastle.Parts()
        parts.mounter = RefusingSlotMounter()
        parts.heartbeatInterval = .seconds(1)
        let sandcastle = try await Sandcastle.make(configuration: configuration, parts: parts, logger: Logger(label: "test.api"))
        // The fixture's own engine client reports into the daemon's registry, as the daemon's does.
        var engine = try DockerClient.Configuration.fromEnvironment()
        engine.observer = PrometheusEngineCallMetrics(registry: sandcastle.metrics.registry)
        let manager = ManagerFixture(
            client: try await DockerClient.connect(engine), store: sandcastle.store, manager: sandcastle.manager, pool: sandcastle.pool, directory: directory,
            instance: sandcastle.instance, policies: sandcastle.manager.policies.current)
        return APIFixture(manager: manager, dependencies: sandcastle.api, relay: sandcastle.relay)
    }

    /// Shuts the relay down (closing any terminal stream it holds), then removes the containers
    /// and files.
    func tearDown() async {
        relay.shutdown()
        await manager.tearDown()
    }

    func application(address: BindAddress = .hostname("127.0.0.1", port: 0)) -> some ApplicationProtocol {
        buildApplication(dependencies, address: address, logger: Logger(label: "test.api"))
    }

    /// Runs `body` with the router test client, tearing everything down afterwards.
    static func withRouter<T: Sendable>(
        perKeyBurst: Int = 10_000, perAddressBurst: Int = 10_000, maxBodyBytes: Int = 64 << 10,
        _ body: @Sendable (APIFixture, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let fixture = try await make(perKeyBurst: perKeyBurst, perAddressBurst: perAddressBurst, maxBodyBytes: maxBodyBytes)
        do {
            let result = try await fixture.application().test(.router) { client in try await body(fixture, client) }
            await fixture.tearDown()
            return result
        } catch {
            await fixture.tearDown()
            throw error
        }
    }

    func createBody(_ workspace: String, id: String? = nil, extra: String = "", command: [String] = ["sleep", "3600"]) -> ByteBuffer {
        let commandJSON = "[" + command.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        var fields = [
            #""image":"\#(ManagerFixture.image)""#, #""profile":"default""#, #""workspace":"\#(workspace)""#,
            #""command":\#(commandJSON)"#,
        ]
        if let id { fields.append(#""id":"\#(id)""#) }
        if !extra.isEmpty { fields.append(extra) }
        return ByteBuffer(string: "{" + fields.joined(separator: ",") + "}")
    }
}

extension HTTPFields {
    static func bearer(_ key: String) -> HTTPFields {
        [.authorization: "Bearer \(key)", .contentType: "application/json"]
    }

    static func role(_ role: Role) -> HTTPFields { .bearer(APIFixture.keys[role] ?? "") }
}

extension TestResponse {
    /// The `error.code` of an error body.
    var errorCode: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let error = object["error"] as? [String: Any]
        else { return nil }
        return error["code"] as? String
    }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
    }
}

/// Refuses every mount: API tests run on a shared host, where the pool must never mount.
struct RefusingSlotMounter: SlotMounter {
    func preparePoolRoot(_ root: String) throws(PoolError) { throw PoolError(.mount, "no mounts in API tests") }
    func mountWorkspace(_ workspace: ResolvedWorkspace, onto slotDirectory: String) throws(PoolError) {
        throw PoolError(.mount, "no mounts in API tests")
    }
    func unmountAll(_ slotDirectory: String) throws(PoolError) {}
    func isMountPoint(_ path: String) -> Bool { false }
}
