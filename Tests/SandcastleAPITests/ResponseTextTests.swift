import EgressPolicy
import Foundation
import JSONText
import SessionStore
import Testing
import Workspaces

@testable import SandcastleAPI

/// The session responses are written with `JSONText`; clients parse them as the `Encodable` form
/// `responseEncoder` wrote before. Both must give the same text.
@Suite("Session responses written with JSONText")
struct ResponseTextTests {
    static func written(_ value: some JSONTextWritable) -> String {
        var text = JSONText()
        value.write(to: &text)
        return text.text
    }

    static func encoded(_ value: some Encodable) throws -> String {
        String(decoding: try responseEncoder.encode(value), as: UTF8.self)
    }

    /// Every optional set, dates with fractions of a second, strings that need escaping.
    static var full: SessionRepresentation {
        var session = Session(
            id: "s-1", labels: ["team": "a/b", "Zed": "\"q\"", "ünï": "\n"], owner: "web", profile: "default",
            image: "sandcastle/base:1", command: ["bash", "-lc", "echo\t1"], env: ["A=1", "B=2"], workspace: "ws-1",
            workspaceUID: 20000, containerName: "sandcastle-s-1", containerID: "c0ffee", state: .exited, exitCode: -9,
            exitReason: .oom, error: "out of memory", requestHash: "h", daemonInstance: "d",
            createdAt: Date(timeIntervalSince1970: 1_800_000_000.999), startedAt: Date(timeIntervalSince1970: 1_800_000_001.5),
            finishedAt: Date(timeIntervalSince1970: 1_800_000_002), lastActivityAt: Date(timeIntervalSince1970: 1_800_000_003.25),
            ttlSeconds: 3600, idleTimeoutSeconds: 600, poolSlot: "slot")
        session.lastActivityAt = Date(timeIntervalSince1970: 1_800_000_003.25)
        var counters = EgressCounters()
        counters.connections = 3
        counters.active = 1
        counters.denied = 2
        counters.bytesUp = 1 << 40
        counters.bytesDown = 5
        var representation = SessionRepresentation(session, egress: EgressStatus(allow: ["api.example.com"], counters: counters))
        representation.workspaceUsage = WorkspaceUsageRepresentation(
            WorkspaceUsage(usedBytes: 10, usedInodes: 2, limits: WorkspaceLimits(bytes: 100, inodes: nil)))
        representation.attachToken = AttachTokenRepresentation(
            token: "tok/en", expiresAt: Date(timeIntervalSince1970: 1_800_000_060.7), role: "rw")
        return representation
    }

    static var sparse: SessionRepresentation {
        SessionRepresentation(
            Session(
                id: "s-2", labels: [:], owner: "o", profile: "p", image: "i", command: [], env: [], workspace: "w",
                workspaceUID: 1, containerName: "n", requestHash: "h", daemonInstance: "d",
                createdAt: Date(timeIntervalSince1970: 0)))
    }

    @Test("a session with every field, one with none of the optional ones, and a listing")
    func sameTextAsTheEncoder() throws {
        #expect(Self.written(Self.full) == (try Self.encoded(Self.full)))
        #expect(Self.written(Self.sparse) == (try Self.encoded(Self.sparse)))
        let list = SessionList(sessions: [Self.full, Self.sparse], next: "123.s-2")
        #expect(Self.written(list) == (try Self.encoded(list)))
        let last = SessionList(sessions: [], next: nil)
        #expect(Self.written(last) == (try Self.encoded(last)))
    }

    @Test("every field of the representation is written (a new one must be added to write(to:))")
    func coversEveryField() throws {
        let fields = Mirror(reflecting: Self.full).children.compactMap(\.label)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Self.written(Self.full).utf8)) as? [String: Any])
        #expect(Set(object.keys) == Set(fields))
    }
}
