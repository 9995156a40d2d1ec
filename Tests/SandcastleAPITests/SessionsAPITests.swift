import AccessControl
import DockerEngine
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SandcastleTestSupport
import Testing

@Suite("REST API through the router, on the real engine", .requiresEngine)
struct SessionsAPITests {
    @Test func authenticationAndRoles() async throws {
        try await APIFixture.withRouter { fixture, client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)

            let none = try await client.execute(uri: "/v1/sessions", method: .get)
            #expect(none.status == .unauthorized)
            #expect(none.errorCode == "unauthenticated")
            let wrong = try await client.execute(uri: "/v1/sessions", method: .get, headers: .bearer("sc_nope"))
            #expect(wrong.status == .unauthorized)

            let viewerList = try await client.execute(uri: "/v1/sessions", method: .get, headers: .role(.viewer))
            #expect(viewerList.status == .ok)
            let viewerCreate = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.viewer), body: fixture.createBody("w"))
            #expect(viewerCreate.status == .forbidden)
            #expect(viewerCreate.errorCode == "forbidden")
            #expect(try await fixture.manager.containers().isEmpty)
        }
    }

    @Test func lifecycleOverHTTP() async throws {
        try await APIFixture.withRouter { fixture, client in
            let created = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer), body: fixture.createBody("w1", id: "api-1"))
            #expect(created.status == .created)
            #expect(created.json["id"] as? String == "api-1")
            #expect(created.json["state"] as? String == "running")
            #expect(created.json["owner"] as? String == "developer-key")

            // Idempotent: the same request again is the same session, 200.
            let again = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer), body: fixture.createBody("w1", id: "api-1"))
            #expect(again.status == .ok)
            #expect(again.json["containerId"] as? String == created.json["containerId"] as? String)
            let conflict = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer),
                body: fixture.createBody("w1", id: "api-1", command: ["sh"]))
            #expect(conflict.status == .conflict)
            #expect(conflict.errorCode == "conflict")

            let shown = try await client.execute(uri: "/v1/sessions/api-1", method: .get, headers: .role(.viewer))
            #expect(shown.status == .ok)
            #expect(shown.json["workspace"] as? String == "w1")

            let listed = try await client.execute(uri: "/v1/sessions?state=running", method: .get, headers: .role(.viewer))
            #expect((listed.json["sessions"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["api-1"])
            let none = try await client.execute(uri: "/v1/sessions?state=exited", method: .get, headers: .role(.viewer))
            #expect((none.json["sessions"] as? [Any])?.isEmpty == true)

            let stopped = try await client.execute(uri: "/v1/sessions/api-1/stop", method: .post, headers: .role(.developer))
            #expect(stopped.status == .ok)
            #expect(stopped.json["state"] as? String == "exited")
            #expect(stopped.json["exitReason"] as? String == "stopped")
            let started = try await client.execute(uri: "/v1/sessions/api-1/start", method: .post, headers: .role(.developer))
            #expect(started.json["state"] as? String == "running")

            let removed = try await client.execute(uri: "/v1/sessions/api-1?workspace=delete", method: .delete, headers: .role(.developer))
            #expect(removed.status == .noContent)
            let gone = try await client.execute(uri: "/v1/sessions/api-1", method: .get, headers: .role(.viewer))
            #expect(gone.json["state"] as? String == "removed")
            #expect(try await fixture.manager.containers().isEmpty)
        }
    }

    @Test func badInputGetsStableCodesAndCreatesNothing() async throws {
        try await APIFixture.withRouter(maxBodyBytes: 4096) { fixture, client in
            let developer = HTTPFields.role(.developer)
            func post(_ body: String, headers: HTTPFields = developer) async throws -> TestResponse {
                try await client.execute(uri: "/v1/sessions", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            let engineField = try await post(String(buffer: fixture.createBody("w", extra: #""privileged":true"#)))
            #expect(engineField.status == .badRequest)
            #expect(engineField.errorCode == "invalid_request")
            let binds = try await post(String(buffer: fixture.createBody("w", extra: #""Binds":["/:/host"]"#)))
            #expect(binds.status == .badRequest)

            for (body, what) in [
                ("{", "truncated"), ("[]", "an array"), (#"{"image": 5}"#, "a wrong type"), ("not json", "garbage"),
                (String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000), "deep nesting"),
                (String(buffer: fixture.createBody("w", extra: #""ttlSeconds":-5"#)), "a negative ttl"),
                (String(buffer: fixture.createBody("w", extra: #""ttlSeconds":99999999999999999999999"#)), "an overflowing ttl"),
                (String(buffer: fixture.createBody("w", extra: #""image":"other:1""#)), "a key given twice"),
                (#"{"image":"a:1","profile":"default","workspace":"w",}"#, "a comma before the closing brace"),
            ] {
                let response = try await post(body)
                #expect(response.status == .badRequest || response.status == .unprocessableContent, "\(what): \(response.status)")
                #expect(response.errorCode == "invalid_request" || response.errorCode == "policy_violation", "\(what)")
            }
            // Text that is not JSON: the message says what was expected where.
            let notJSON = try await post(#"{"image": }"#)
            #expect(String(buffer: notJSON.body).contains("not valid JSON: expected a value at byte 10"))
            let tooLarge = try await post("{\"image\":\"" + String(repeating: "a", count: 8000) + "\"}")
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.errorCode == "body_too_large")

            // Ids the container name could not carry are refused before anything is written,
            // with the one rule the whole daemon uses (a leading "_" once left a failed session).
            for id in ["../../etc", "_x", "-x", ".x", String(repeating: "a", count: 129)] {
                let badID = try await post(String(buffer: fixture.createBody("w", id: id)))
                #expect(badID.status == .badRequest, "\(id)")
                #expect(badID.errorCode == "invalid_request", "\(id)")
            }
            let notAllowed = try await post(#"{"image":"debian:12","profile":"default","workspace":"w","command":["sh"]}"#)
            #expect(notAllowed.status == .unprocessableContent)
            #expect(notAllowed.errorCode == "policy_violation")

            let unknown = try await client.execute(uri: "/v1/sessions/no-such-session", method: .get, headers: .role(.viewer))
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "not_found")
            let nul = try await client.execute(uri: "/v1/sessions/a%00b", method: .get, headers: .role(.viewer))
            #expect(nul.status == .badRequest)
            let badState = try await client.execute(uri: "/v1/sessions?state=sleeping", method: .get, headers: .role(.viewer))
            #expect(badState.status == .badRequest)

            #expect(try await fixture.manager.containers().isEmpty)
            #expect(try await fixture.manager.store.sessions(states: nil).sessions.isEmpty)
        }
    }

    @Test func attachTokens() async throws {
        try await APIFixture.withRouter { fixture, client in
            _ = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer), body: fixture.createBody("w", id: "tok-1"))
            let minted = try await client.execute(
                uri: "/v1/sessions/tok-1/attach-tokens", method: .post, headers: .role(.developer),
                body: ByteBuffer(string: #"{"role":"ro","ttlSeconds":100000}"#))
            #expect(minted.status == .created)
            let token = try #require(minted.json["token"] as? String)
            let verified = try fixture.dependencies.tokens.current.verify(token: token, session: "tok-1", requiredRole: .readOnly)
            #expect(verified.role == .readOnly)
            // Capped at the configured maximum (300 s).
            #expect(verified.expiresAt.timeIntervalSinceNow <= 301)

            let badRole = try await client.execute(
                uri: "/v1/sessions/tok-1/attach-tokens", method: .post, headers: .role(.developer),
                body: ByteBuffer(string: #"{"role":"root"}"#))
            #expect(badRole.status == .badRequest)
            // A viewer watches: an ro token, never an rw one (the default role is rw).
            let watching = try await client.execute(
                uri: "/v1/sessions/tok-1/attach-tokens", method: .post, headers: .role(.viewer),
                body: ByteBuffer(string: #"{"role":"ro"}"#))
            #expect(watching.status == .created)
            let watchToken = try #require(watching.json["token"] as? String)
            #expect(try fixture.dependencies.tokens.current.verify(token: watchToken, session: "tok-1", requiredRole: .readOnly).role == .readOnly)
            #expect(throws: (any Error).self) {
                try fixture.dependencies.tokens.current.verify(token: watchToken, session: "tok-1", requiredRole: .readWrite)
            }
            for body in [#"{"role":"rw"}"#, ""] {
                let typing = try await client.execute(
                    uri: "/v1/sessions/tok-1/attach-tokens", method: .post, headers: .role(.viewer), body: ByteBuffer(string: body))
                #expect(typing.status == .forbidden, "body \(body)")
                #expect(((typing.json["error"] as? [String: Any])?["message"] as? String)?.contains("session:attach") == true, "\(typing.json)")
            }
            _ = try await client.execute(uri: "/v1/sessions/tok-1/stop", method: .post, headers: .role(.developer))
            let exited = try await client.execute(uri: "/v1/sessions/tok-1/attach-tokens", method: .post, headers: .role(.developer))
            #expect(exited.status == .conflict)
        }
    }

    @Test func aCreateCanCarryTheAttachToken() async throws {
        try await APIFixture.withRouter { fixture, client in
            let created = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer),
                body: fixture.createBody("w", id: "ct-1", extra: #""attachToken":"rw""#))
            #expect(created.status == .created)
            #expect(created.json["state"] as? String == "running")
            let attach = try #require(created.json["attachToken"] as? [String: Any])
            #expect(attach["role"] as? String == "rw")
            let verified = try fixture.dependencies.tokens.current.verify(
                token: try #require(attach["token"] as? String), session: "ct-1", requiredRole: .readWrite)
            #expect(verified.expiresAt.timeIntervalSinceNow <= 61)

            // The token is not part of the request's identity: the same session under the same
            // id, with a token of the role asked this time.
            let again = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer),
                body: fixture.createBody("w", id: "ct-1", extra: #""attachToken":"ro""#))
            #expect(again.status == .ok)
            #expect((again.json["attachToken"] as? [String: Any])?["role"] as? String == "ro")
            let plain = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer), body: fixture.createBody("w", id: "ct-1"))
            #expect(plain.status == .ok)
            #expect(plain.json["attachToken"] == nil)

            // A role that does not exist is refused before anything is created.
            let bad = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer),
                body: fixture.createBody("w2", id: "ct-2", extra: #""attachToken":"root""#))
            #expect(bad.status == .badRequest)
            #expect(((bad.json["error"] as? [String: Any])?["message"] as? String)?.contains("attachToken") == true, "\(bad.json)")
            let missing = try await client.execute(uri: "/v1/sessions/ct-2", method: .get, headers: .role(.developer))
            #expect(missing.status == .notFound)
        }
    }

    @Test func floodFromOneKeyIsLimitedWithoutSlowingAnother() async throws {
        try await APIFixture.withRouter(perKeyBurst: 5) { fixture, client in
            var statuses: [HTTPResponse.Status] = []
            var retryAfter: String?
            for _ in 0..<8 {
                let response = try await client.execute(uri: "/v1/sessions", method: .get, headers: .role(.developer))
                statuses.append(response.status)
                if response.status == .tooManyRequests { retryAfter = response.headers[.retryAfter] }
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == .ok })
            #expect(statuses.suffix(3).allSatisfy { $0 == .tooManyRequests })
            #expect(retryAfter.flatMap(Int.init).map { $0 >= 1 } == true)
            let other = try await client.execute(uri: "/v1/sessions", method: .get, headers: .bearer(APIFixture.otherDeveloperKey))
            #expect(other.status == .ok)
        }
    }

    @Test func healthReadinessMetricsAndDocument() async throws {
        try await APIFixture.withRouter { fixture, client in
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(ready.json["engine"] as? String == "ok")
            #expect(ready.json["store"] as? String == "ok")
            _ = try await client.execute(
                uri: "/v1/sessions", method: .post, headers: .role(.developer), body: fixture.createBody("w", id: "m-1"))
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: metrics.body)
            #expect(text.contains(#"sandcastle_sessions{state="running"} 1"#))
            #expect(text.contains("sandcastle_launch_duration_seconds"))
            // Each of the API's own metrics says what it counts.
            #expect(text.contains("# HELP sandcastle_sessions Sessions by state"), "\(text)")
            #expect(text.contains("# HELP sandcastle_http_requests_total "))
            #expect(text.contains(#"route="/v1/sessions""#))
            // Each method, route and status counts its own requests, the first and every later one.
            _ = try await client.execute(uri: "/readyz", method: .get)
            _ = try await client.execute(uri: "/v1/sessions/no-such", method: .get, headers: .role(.developer))
            _ = try await client.execute(uri: "/v1/sessions/no-such-either", method: .get, headers: .role(.developer))
            let counted = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            let requests = "sandcastle_http_requests_total"
            #expect(counted.contains(#"\#(requests){method="GET",route="/readyz",status="200"} 2"#), "\(counted)")
            #expect(counted.contains(#"\#(requests){method="GET",route="/v1/sessions/{id}",status="404"} 2"#))
            #expect(counted.contains(#"\#(requests){method="POST",route="/v1/sessions",status="201"} 1"#))
            // Engine call latency, by operation (no ids) and outcome.
            let engine = "sandcastle_engine_request_duration_seconds_count"
            #expect(text.contains(#"\#(engine){operation="POST /containers/create",outcome="ok"}"#), "\(text)")
            #expect(text.contains(#"\#(engine){operation="POST /containers/{id}/start",outcome="ok"}"#))
            #expect(text.contains(#"\#(engine){operation="GET /containers/{id}/json",outcome="ok"}"#))
            await #expect(throws: DockerError.self) { try await fixture.manager.client.inspectContainer("sandcastle-no-such-container") }
            let after = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(after.contains(#"\#(engine){operation="GET /containers/{id}/json",outcome="notFound"} 1"#))
            #expect(!after.contains("sandcastle-no-such-container"), "an id in a label")
            let document = try await client.execute(uri: "/v1/openapi.json", method: .get)
            #expect(document.status == .ok)
            #expect(document.json["openapi"] as? String == "3.1.0")
        }
    }
}
