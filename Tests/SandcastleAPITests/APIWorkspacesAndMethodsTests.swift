import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SandcastleTestSupport
import Testing

/// `/v1/workspaces`, 405 for undeclared methods, and the served document's profile names: on the
/// in-memory engine.
@Suite("Workspaces, methods and the served document, on the in-memory engine")
struct APIWorkspacesAndMethodsTests {
    @Test func workspacesAreListedWithTheirSessionsAndBadNamesRefused() async throws {
        try await APILogicTests.withRouter { client in
            _ = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer), body: APILogicTests.body("ws-1", workspace: "alpha"))
            let list = try await client.execute(uri: "/v1/workspaces", method: .get, headers: .role(.viewer))
            #expect(list.status == .ok)
            // No project quotas and no images here: nothing enforces a limit.
            #expect(list.json["backend"] as? String == "none")
            let workspaces = try #require(list.json["workspaces"] as? [[String: Any]])
            #expect(workspaces.map { $0["name"] as? String } == ["alpha"])
            #expect(workspaces.first?["sessions"] as? [String] == ["ws-1"])
            #expect(workspaces.first?["profiles"] as? [String] == ["default"])
            let one = try await client.execute(uri: "/v1/workspaces/alpha", method: .get, headers: .role(.viewer))
            #expect(one.status == .ok && one.json["name"] as? String == "alpha")
            let missing = try await client.execute(uri: "/v1/workspaces/nobody", method: .get, headers: .role(.viewer))
            #expect(missing.status == .notFound)
            let bad = try await client.execute(uri: "/v1/workspaces/..", method: .get, headers: .role(.viewer))
            #expect(bad.status == .badRequest || bad.status == .notFound)
            let badName = try await client.execute(uri: "/v1/workspaces/a%20b", method: .get, headers: .role(.viewer))
            #expect(badName.status == .badRequest, "\(badName.status)")
            let anonymous = try await client.execute(uri: "/v1/workspaces", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func undeclaredMethodsAnswer405WithAllow() async throws {
        try await APILogicTests.withRouter { client in
            for (method, uri, allow) in [
                (HTTPRequest.Method.delete, "/v1/pools", "GET"), (.put, "/v1/sessions", "GET, POST"),
                (.post, "/v1/sessions/abc", "DELETE, GET"), (.patch, "/v1/workspaces/w", "GET"), (.post, "/healthz", "GET"),
            ] {
                let response = try await client.execute(uri: uri, method: method, headers: .role(.admin))
                #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                #expect(response.json["error"] != nil)
            }
            // Declared methods still route; unknown paths are still 404.
            #expect(try await client.execute(uri: "/v1/pools", method: .get, headers: .role(.admin)).status == .ok)
            #expect(try await client.execute(uri: "/v1/nowhere", method: .delete, headers: .role(.admin)).status == .notFound)
        }
    }

    @Test func theServedDocumentNamesTheLoadedProfiles() async throws {
        try await APILogicTests.withRouter { client in
            let response = try await client.execute(uri: "/v1/openapi.json", method: .get)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            let schemas = (document["components"] as? [String: Any])?["schemas"] as? [String: Any]
            let profile = schemas?["ProfileName"] as? [String: Any]
            let loaded = try FileManager.default.contentsOfDirectory(atPath: ManagerFixture.policiesDirectory)
                .filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
            #expect(loaded.contains("default"))
            #expect(profile?["enum"] as? [String] == loaded)
        }
    }
}
