import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SandboxPolicy
import SandcastleTestSupport
import Testing
import Workspaces

@testable import SandcastleAPI

/// The workspace file routes through the router: roles, statuses, headers, and every response
/// checked against the OpenAPI document.
@Suite("Workspace files over HTTP")
struct WorkspaceFilesAPITests {
    @Test func routesRolesAndDocumentedResponses() async throws {
        try await APIFixture.withRouter { fixture, client in
            let resolver = fixture.dependencies.manager.workspaceFiles.resolver
            _ = try await resolver.resolve("api-ws", creatingFor: WorkspaceUser(uid: 2_000_100))
            let documentResponse = try await client.execute(uri: "/v1/openapi.json", method: .get)
            let conformance = try OpenAPIConformance(documentBytes: Data(documentResponse.body.readableBytesView))
            var problems: [String] = []
            func call(_ method: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields = .role(.developer), body: [UInt8]? = nil)
                async throws -> TestResponse
            {
                let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
                problems += conformance.check(
                    method: method.rawValue, path: uri, status: Int(response.status.code),
                    contentType: response.headers[.contentType], body: Data(response.body.readableBytesView))
                return response
            }
            let files = "/v1/workspaces/api-ws/files"
            #expect(try await call(.put, "\(files)/a/b.txt", body: Array("hello".utf8)).status == .notFound)
            let created = try await call(.put, "\(files)/a/b.txt?parents=true", body: Array("hello".utf8))
            #expect(created.status == .created)
            let tag = try #require(created.headers[.eTag])
            #expect(try await call(.put, "\(files)/a/b.txt", .role(.viewer), body: [1]).status == .forbidden)
            #expect(try await call(.get, "\(files)/a/b.txt", .role(.viewer)).body == ByteBuffer(string: "hello"))
            var range = HTTPFields.role(.viewer)
            range[.range] = "bytes=1-2"
            let part = try await call(.get, "\(files)/a/b.txt", range)
            #expect(part.status == .partialContent && part.body == ByteBuffer(string: "el") && part.headers[.contentRange] == "bytes 1-2/5")
            range[.range] = "bytes=9-"
            #expect(try await call(.get, "\(files)/a/b.txt", range).status == .rangeNotSatisfiable)
            #expect(try await call(.get, "\(files)/a/b.txt?stat").json["etag"] as? String == tag)
            // HEAD: GET's headers, no body.
            let head = try await call(.head, "\(files)/a/b.txt", .role(.viewer))
            #expect(head.status == .ok && head.headers[.eTag] == tag && head.headers[.contentLength] == "5" && head.body.readableBytes == 0)
            #expect(try await call(.head, "\(files)/nope", .role(.viewer)).status == .notFound)
            var match = HTTPFields.role(.developer)
            match[.ifMatch] = tag
            #expect(try await call(.put, "\(files)/a/b.txt?sync=true", match, body: Array("two".utf8)).status == .ok)
            let conflict = try await call(.put, "\(files)/a/b.txt", match, body: Array("three".utf8))
            #expect(conflict.status == .conflict && conflict.errorCode == "etag_mismatch")
            #expect(try await call(.post, "\(files)/d/e?action=mkdir&parents=true").status == .created)
            #expect(try await call(.post, "\(files)/d?action=mkdir").status == .conflict)
            #expect(try await call(.post, "\(files)/a/b.txt?action=move&to=d/e/c%20d.txt").status == .ok)
            let listing = try await call(.get, "\(files)/d/e?list&limit=1", .role(.viewer))
            #expect((listing.json["entries"] as? [[String: Any]])?.first?["name"] as? String == "c d.txt")
            #expect(try await call(.get, "\(files)/d/e/c%20d.txt").body == ByteBuffer(string: "two"))
            #expect(try await call(.get, "\(files)/d").errorCode == "is_a_directory")
            #expect(try await call(.get, "\(files)/nope").status == .notFound)
            #expect(try await call(.get, "\(files)/a/%2E%2E/x").status == .unprocessableContent)
            #expect(try await call(.get, "/v1/workspaces/no-such/files?list").status == .notFound)
            #expect(try await call(.delete, "\(files)/d").errorCode == "not_empty")

            let archive = try await call(.get, "/v1/workspaces/api-ws/archive/d?compression=gzip", .role(.viewer))
            #expect(archive.status == .ok && archive.headers[.contentType] == "application/gzip")
            let restored = try await call(.put, "/v1/workspaces/api-ws/archive/copy", body: Array(archive.body.readableBytesView))
            #expect(restored.status == .created && restored.json["entries"] as? Int == 2, "\(String(buffer: restored.body))")
            #expect(try await call(.get, "\(files)/copy/e/c%20d.txt").body == ByteBuffer(string: "two"))
            #expect(try await call(.put, "/v1/workspaces/api-ws/archive/copy", body: Array(archive.body.readableBytesView)).status == .conflict)
            #expect(try await call(.put, "/v1/workspaces/api-ws/archive/bad", body: Array(repeating: 7, count: 2048)).errorCode == "bad_archive")
            #expect(try await call(.delete, "\(files)?recursive=true").status == .noContent)
            #expect((try await call(.get, "\(files)?list").json["entries"] as? [Any])?.isEmpty == true)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }

    @Test func rangesFollowRFC9110() {
        #expect(ByteRange.parse("bytes=0-4", size: 10) == .part(0..<5))
        #expect(ByteRange.parse("bytes=5-", size: 10) == .part(5..<10))
        #expect(ByteRange.parse("bytes=-3", size: 10) == .part(7..<10))
        #expect(ByteRange.parse("bytes=8-100", size: 10) == .part(8..<10))
        #expect(ByteRange.parse("bytes=10-", size: 10) == .unsatisfiable)
        #expect(ByteRange.parse("bytes=0-1,3-4", size: 10) == .whole)
        #expect(ByteRange.parse("items=0-1", size: 10) == .whole)
        #expect(ByteRange.parse("bytes=4-2", size: 10) == .whole)
    }

    @Test func pathsArePercentDecodedToBytes() {
        #expect(WorkspaceFilesController.percentDecode(Array("a%0Ab%2fc%ff".utf8)) == Array("a\nb/c".utf8) + [0xFF])
        #expect(WorkspaceFilesController.percentDecode(Array("bad%2".utf8)) == nil)
        #expect(WorkspaceFilesController.percentDecode(Array("bad%zz".utf8)) == nil)
    }
}
