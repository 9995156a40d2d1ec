import AccessControl
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SandcastleAPI
import SandcastleConfig
import SandcastleDaemon
import SandcastleTestSupport
import Testing

/// The API's logic through the router, on a daemon built by the composition root over the
/// in-memory engine: no Docker, no root. The same routes against the real engine are in
/// SessionsAPITests.
@Suite("REST API logic, on the in-memory engine")
struct APILogicTests {
    static func withRouter(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        var configuration = DaemonConfiguration.defaults()
        configuration.stateDirectory = directory.path + "/state"
        configuration.workspaceRoot = directory.path + "/workspaces"
        configuration.policiesDirectory = ManagerFixture.policiesDirectory
        configuration.workspaceImageDirectory = nil
        configuration.apiKeys = APIFixture.keys.map {
            .init(name: "\($0.key.rawValue)-key", sha256: APIKeyring.sha256Hex(of: $0.value), role: $0.key.rawValue)
        }
        var parts = Sandcastle.Parts()
        parts.engine = InMemoryEngine()
        parts.mounter = RefusingSlotMounter()
        let sandcastle = try await Sandcastle.make(configuration: configuration, parts: parts, logger: Logger(label: "test.logic"))
        let application = buildApplication(
            sandcastle.api, address: .hostname("127.0.0.1", port: 0), logger: Logger(label: "test.logic"))
        try await application.test(.router, body)
        sandcastle.relay.shutdown()
        try sandcastle.store.close()
    }

    static func body(_ id: String, workspace: String = "w") -> ByteBuffer {
        ByteBuffer(
            string: #"{"id":"\#(id)","image":"sandcastle/testbox:latest","profile":"default","workspace":"\#(workspace)","command":["sleep","60"]}"#)
    }

    @Test func createTellsNewFromExistingAndRefusesBadIDsBeforeWriting() async throws {
        try await Self.withRouter { client in
            let created = try await client.execute(uri: "/v1/sessions", method: .post, headers: .role(.developer), body: Self.body("s-1"))
            #expect(created.status == .created)
            #expect(created.json["state"] as? String == "running")
            let again = try await client.execute(uri: "/v1/sessions", method: .post, headers: .role(.developer), body: Self.body("s-1"))
            #expect(again.status == .ok)
            for id in ["_x", "-x", "../etc"] {
                let bad = try await client.execute(uri: "/v1/sessions", method: .post, headers: .role(.developer), body: Self.body(id))
                #expect(bad.status == .badRequest, "\(id)")
            }
            let list = try await client.execute(uri: "/v1/sessions", method: .get, headers: .role(.viewer))
            let sessions = try #require(list.json["sessions"] as? [[String: Any]])
            #expect(sessions.map { $0["id"] as? String } == ["s-1"])
        }
    }

    @Test func stopRemoveReadinessAndGarbage() async throws {
        try await Self.withRouter { client in
            _ = try await client.execute(uri: "/v1/sessions", method: .post, headers: .role(.developer), body: Self.body("s-2"))
            let stopped = try await client.execute(uri: "/v1/sessions/s-2/stop", method: .post, headers: .role(.developer))
            #expect(stopped.json["state"] as? String == "exited")
            let removed = try await client.execute(uri: "/v1/sessions/s-2", method: .delete, headers: .role(.developer))
            #expect(removed.status == .noContent)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            let garbage = try await client.execute(uri: "/v1/admin/gc?dryRun=true", method: .post, headers: .role(.admin))
            #expect((garbage.json["orphans"] as? [Any])?.isEmpty == true)
            let forbidden = try await client.execute(uri: "/v1/admin/gc", method: .post, headers: .role(.developer))
            #expect(forbidden.status == .forbidden)
        }
    }
}
