import Foundation
import SandcastleClient
import SandcastleTestSupport
import Testing

/// `SandcastleClient.withConnection`: calls that share one kept-alive connection, against a live
/// daemon (the web tier's way of calling it).
@Suite("The client's kept-alive connection", .serialized, .requiresEngine)
struct ClientConnectionTests {
    @Test func callsShareOneConnection() async throws {
        try await LiveDaemon.with { daemon in
            let key = try String(contentsOfFile: daemon.directory + "/state/admin.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let client = SandcastleClient(address: .unixSocket(path: daemon.socket), apiKey: key)
            let statuses = try await client.withConnection { connection in
                var statuses: [Int] = []
                for path in ["/healthz", "/v1/sessions", "/v1/sessions/no-such-session", "/healthz"] {
                    statuses.append(try await connection.raw("GET", path).status)
                    // The daemon keeps the connection: the next call goes on the same one (this
                    // type never reconnects, so a closed connection would fail it).
                    #expect(!connection.isClosed, "after GET \(path)")
                }
                return statuses
            }
            #expect(statuses == [200, 200, 404, 200])

            // A refused request (a body over the limit) does not cost the caller its connection.
            try await client.withConnection { connection in
                let huge = [UInt8](repeating: UInt8(ascii: "x"), count: 4 << 20)
                let refused = try await connection.raw("POST", "/v1/sessions", body: huge)
                #expect(refused.status == 413)
                #expect(!connection.isClosed)
                let after = try await connection.raw("GET", "/healthz")
                #expect(after.status == 200)
            }
        }
    }
}
