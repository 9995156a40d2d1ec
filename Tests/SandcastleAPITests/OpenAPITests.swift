import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SandcastleTestSupport
import Testing

/// Every route's real responses, success and error, checked against the served OpenAPI document.
@Suite("The API keeps to its OpenAPI document", .requiresEngine)
struct OpenAPITests {
    @Test func responsesMatchTheDocument() async throws {
        try await APIFixture.withRouter(maxBodyBytes: 4096) { fixture, client in
            let documentResponse = try await client.execute(uri: "/v1/openapi.json", method: .get)
            let conformance = try OpenAPIConformance(documentBytes: Data(documentResponse.body.readableBytesView))
            var problems: [String] = []
            func call(_ method: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields = [:], body: String? = nil) async throws -> TestResponse {
                let response = try await client.execute(
                    uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                problems += conformance.check(
                    method: method.rawValue, path: uri, status: Int(response.status.code),
                    contentType: response.headers[.contentType], body: Data(response.body.readableBytesView))
                return response
            }
            let developer = HTTPFields.role(.developer)
            _ = try await call(.get, "/healthz")
            _ = try await call(.get, "/readyz")
            _ = try await call(.get, "/metrics")
            _ = try await call(.post, "/v1/sessions", developer, body: String(buffer: fixture.createBody("oa", id: "oa-1")))
            _ = try await call(.post, "/v1/sessions", developer, body: String(buffer: fixture.createBody("oa", id: "oa-1")))
            _ = try await call(.post, "/v1/sessions", developer, body: String(buffer: fixture.createBody("oa", id: "oa-1", command: ["sh"])))
            _ = try await call(
                .post, "/v1/sessions", developer, body: String(buffer: fixture.createBody("oa", id: "oa-1", extra: #""attachToken":"ro""#)))
            _ = try await call(.post, "/v1/sessions", developer, body: #"{"image":"x","profile":"default","workspace":"w","Privileged":true}"#)
            _ = try await call(.post, "/v1/sessions", developer, body: #"{"image":"debian:12","profile":"default","workspace":"w"}"#)
            _ = try await call(.post, "/v1/sessions", developer, body: String(repeating: "x", count: 5000))
            _ = try await call(.post, "/v1/sessions", .role(.viewer), body: String(buffer: fixture.createBody("oa")))
            _ = try await call(.get, "/v1/sessions")
            _ = try await call(.get, "/v1/sessions?state=running&limit=10", developer)
            _ = try await call(.get, "/v1/sessions?limit=0", developer)
            _ = try await call(.get, "/v1/sessions/oa-1", developer)
            _ = try await call(.get, "/v1/sessions/nope", developer)
            _ = try await call(.post, "/v1/sessions/oa-1/attach-tokens", developer, body: #"{"role":"ro"}"#)
            _ = try await call(.post, "/v1/sessions/oa-1/attach-tokens", developer, body: #"{"role":"x"}"#)
            _ = try await call(.get, "/v1/sessions/oa-1/logs?tail=5", developer)
            let screen = try await call(.get, "/v1/sessions/oa-1/screen", .role(.viewer))
            #expect(screen.status == .ok, "a viewer-role key reads the screen")
            _ = try await call(.get, "/v1/sessions/oa-1/screen?format=ansi", developer)
            _ = try await call(.get, "/v1/sessions/oa-1/screen?format=png", developer)
            _ = try await call(.get, "/v1/sessions/nope/screen", developer)
            _ = try await call(.post, "/v1/sessions/oa-1/exec", developer, body: #"{"command":["sh","-c","echo hi; echo no >&2; exit 2"]}"#)
            _ = try await call(.post, "/v1/sessions/oa-1/exec", developer, body: #"{"command":["true"],"encoding":"base64"}"#)
            _ = try await call(.post, "/v1/sessions/oa-1/exec", developer, body: #"{"command":[]}"#)
            let viewerExec = try await call(.post, "/v1/sessions/oa-1/exec", .role(.viewer), body: #"{"command":["true"]}"#)
            #expect(viewerExec.status == .forbidden)
            let plainGet = try await call(.get, "/v1/sessions/oa-1/exec", developer)
            #expect(plainGet.status == .upgradeRequired)
            _ = try await call(.post, "/v1/sessions/oa-1/stop", developer)
            _ = try await call(.post, "/v1/sessions/oa-1/attach-tokens", developer)
            _ = try await call(.post, "/v1/sessions/oa-1/exec", developer, body: #"{"command":["true"]}"#)
            _ = try await call(.post, "/v1/sessions/oa-1/start", developer)
            _ = try await call(.delete, "/v1/sessions/oa-1?workspace=bogus", developer)
            _ = try await call(.delete, "/v1/sessions/oa-1", developer)
            _ = try await call(.post, "/v1/sessions/oa-1/start", developer)
            let admin = HTTPFields.role(.admin)
            let image = ManagerFixture.image
            _ = try await call(.get, "/v1/pools", admin)
            _ = try await call(.get, "/v1/pools", developer)
            _ = try await call(.put, "/v1/pools/default", admin, body: #"{"image":"\#(image)","size":0,"refillPerMinute":60}"#)
            _ = try await call(.put, "/v1/pools/default", admin, body: #"{"image":"debian:12","size":1}"#)
            _ = try await call(.put, "/v1/pools/default", admin, body: #"{"image":"x","size":1,"Privileged":true}"#)
            _ = try await call(.put, "/v1/pools/default", developer, body: #"{"image":"x","size":1}"#)
            _ = try await call(.get, "/v1/events?follow=false", developer)
            _ = try await call(.get, "/v1/events?follow=maybe", developer)
            _ = try await call(.post, "/v1/admin/gc?dryRun=true", .role(.admin))
            _ = try await call(.post, "/v1/admin/gc?dryRun=perhaps", .role(.admin))
            _ = try await call(.post, "/v1/admin/gc", developer)
            _ = try await call(.get, "/v1/admin/backup", .role(.admin))
            _ = try await call(.get, "/v1/admin/backup", developer)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }
}

@Suite("The OpenAPI checker itself")
struct OpenAPICheckerTests {
    @Test func itFindsWhatDoesNotConform() throws {
        let url = try #require(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Sources/SandcastleAPI/openapi.json") as URL?)
        let checker = try OpenAPIConformance(documentBytes: Data(contentsOf: url))
        let json = "application/json"
        #expect(checker.check(method: "GET", path: "/v1/sessions/a", status: 200, contentType: json, body: Data(#"{"state":"running"}"#.utf8)).count >= 5)
        #expect(!checker.check(method: "GET", path: "/v1/sessions/a", status: 418, contentType: json, body: Data()).isEmpty)
        #expect(!checker.check(method: "PUT", path: "/v1/sessions/a", status: 200, contentType: json, body: Data()).isEmpty)
        #expect(!checker.check(method: "GET", path: "/v1/nowhere", status: 200, contentType: json, body: Data()).isEmpty)
        let badError = #"{"error":{"code":5,"message":"x","extra":1}}"#
        #expect(checker.check(method: "GET", path: "/v1/sessions/a", status: 404, contentType: json, body: Data(badError.utf8)).count == 2)
        let goodError = #"{"error":{"code":"not_found","message":"x"}}"#
        #expect(checker.check(method: "GET", path: "/v1/sessions/a", status: 404, contentType: json, body: Data(goodError.utf8)).isEmpty)
    }
}
