import AccessControl
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SandcastleTestSupport
import Testing

/// `/v1/admin`: only for admin keys.
@Suite("The admin routes", .requiresEngine)
struct AdminAPITests {
    @Test func onlyAdminKeysGarbageCollectAndBackUp() async throws {
        try await APIFixture.withRouter { _, client in
            for role in [Role.viewer, .developer] {
                let gc = try await client.execute(uri: "/v1/admin/gc?dryRun=true", method: .post, headers: .role(role))
                #expect(gc.status == .forbidden, "\(role)")
                let backup = try await client.execute(uri: "/v1/admin/backup", method: .get, headers: .role(role))
                #expect(backup.status == .forbidden, "\(role)")
            }
            #expect(try await client.execute(uri: "/v1/admin/gc", method: .post).status == .unauthorized)
            let dry = try await client.execute(uri: "/v1/admin/gc?dryRun=true", method: .post, headers: .role(.admin))
            #expect(dry.status == .ok)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(dry.body.readableBytesView)) as? [String: Any])
            #expect(report["dryRun"] as? Bool == true && (report["removed"] as? [Any])?.isEmpty == true)
            #expect(try await client.execute(uri: "/v1/admin/gc?dryRun=yes", method: .post, headers: .role(.admin)).status == .badRequest)
            let backup = try await client.execute(uri: "/v1/admin/backup", method: .get, headers: .role(.admin))
            #expect(backup.status == .ok)
            #expect(Array(backup.body.readableBytesView.prefix(16)) == Array("SQLite format 3\0".utf8))
        }
    }
}
