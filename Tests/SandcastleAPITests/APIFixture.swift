import AccessControl
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SandboxPolicy
import SandcastleAPI
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
        let manager = try await ManagerFixture.make()
        let metrics = APIMetrics()
        let relay = TerminalRelay(
            engine: manager.client, configuration: .init(viewerQueueBytes: viewerQueueBytes),
            delegate: RelayBridge(manager: manager.manager), metrics: PrometheusRelayMetrics(registry: metrics.registry))
        await RelayBridge.connect(manager: manager.manager, relay: relay)
        // A pool that is never run: its admin routes answer, and it never mounts (on this host).
        let pool = await manager.manager.makePool(
            configuration: .init(
                root: manager.directory + "/pool", gate: GateMount(hostPath: manager.directory + "/no-gate"),
                daemonInstance: manager.instance),
            mounter: RefusingSlotMounter())
        var entries = keys.map { APIKeyEntry(name: "\($0.key.rawValue)-key", sha256: APIKeyring.sha256Hex(of: $0.value), role: $0.key) }
        entries.append(APIKeyEntry(name: "developer-2", sha256: APIKeyring.sha256Hex(of: otherDeveloperKey), role: .developer))
        let dependencies = APIDependencies(
            manager: manager.manager, store: manager.store, engine: manager.client,
            keyring: try APIKeyring(entries: entries),
            tokens: TokenSignerBox(try AttachTokenSigner(current: .generate(), maxTTL: .seconds(300))),
            limits: RateLimits(
                // A slow refill: a burst is limited however long the machine takes to send it.
                perKey: try TokenBucketLimiter(capacity: perKeyBurst, refillPerSecond: 0.001, maxKeys: 1000),
                perAddress: try TokenBucketLimiter(capacity: perAddressBurst, refillPerSecond: 1, maxKeys: 1000)),
            metrics: metrics,
            settings: APISettings(maxBodyBytes: maxBodyBytes, allowedOrigins: allowedOrigins, heartbeatInterval: .seconds(1)),
            relay: relay, pool: pool)
        return APIFixture(manager: manager, dependencies: dependencies, relay: relay)
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
            await fixture.manager.tearDown()
            return result
        } catch {
            await fixture.manager.tearDown()
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
