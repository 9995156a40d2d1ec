import Foundation
import SandboxPolicy
import SessionStore
import Testing

@testable import Sessions

/// A session's stored `requestHash` decides whether a repeated create is a retry or a conflict:
/// the request's canonical form must stay the text `JSONEncoder` gave it, whichever fields are set.
@Suite("The request's canonical form")
struct CanonicalRequestTests {
    static func encoded(_ request: SessionLaunchRequest) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(request))
    }

    static let full = SessionLaunchRequest(
        image: "sandcastle/base:1", profile: "default", workspace: "ws/\"one\"", command: ["bash", "-c", "echo a\tb\n"],
        env: ["TOKEN=x/y", "É=1"], labels: ["team": "a", "Zed": "\u{1}", "ünï": "cödé"], capabilities: ["NET_RAW"],
        ttlSeconds: 3600, idleTimeoutSeconds: 600, egress: ["api.example.com"])

    @Test("every field set, none set, and each optional alone: the encoder's bytes")
    func matchesTheEncoder() throws {
        var requests = [Self.full, SessionLaunchRequest(image: "i", profile: "p", workspace: "w")]
        var bare = SessionLaunchRequest(image: "i", profile: "p", workspace: "w")
        bare.capabilities = []
        requests.append(bare)
        bare = SessionLaunchRequest(image: "i", profile: "p", workspace: "w", ttlSeconds: 1)
        requests.append(bare)
        bare = SessionLaunchRequest(image: "i", profile: "p", workspace: "w", egress: [])
        requests.append(bare)
        for request in requests {
            #expect(SessionManager.canonicalForm(request) == (try Self.encoded(request)))
        }
    }

    @Test("the canonical form names every field of the request")
    func coversEveryField() throws {
        let fields = Mirror(reflecting: Self.full).children.compactMap(\.label)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(SessionManager.canonicalForm(Self.full))) as? [String: Any])
        // A field added to the request must be added to its canonical form (and this test).
        #expect(Set(object.keys) == Set(fields))
    }

    @Test("payloads: keys sorted, slashes escaped, as before")
    func payloads() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let values = ["containerID": "abc/def", "error": "a \"b\"\n"]
        #expect(SessionManager.payload(values) == String(decoding: try encoder.encode(values), as: UTF8.self))
    }
}
