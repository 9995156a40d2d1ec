import Testing

@testable import SandboxPolicy

@Suite("Workspace uids")
struct WorkspaceUIDTests {
    let range = UIDRange(first: 2_000_000, last: 2_999_999)!

    @Test("the preferred uid is stable and inside the range")
    func stable() throws {
        // FNV-1a 64 of "demo" is 0x0ec9ac8e6ea7e5ee... reduced into the range: fixed forever.
        let uid = range.preferredUID(forWorkspace: "demo")
        #expect(uid == range.preferredUID(forWorkspace: "demo"))
        #expect(range.contains(uid))
        #expect(uid == 2_000_000 + UInt32(Self.fnv1a("demo") % 1_000_000))
        #expect(range.preferredUID(forWorkspace: "demo2") != uid)
    }

    static func fnv1a(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    @Test("candidates start at the preferred uid, wrap, and visit each uid once")
    func candidates() throws {
        let small = try #require(UIDRange(first: 5000, last: 5004))
        let all = Array(small.candidates(forWorkspace: "x"))
        #expect(all.first == small.preferredUID(forWorkspace: "x"))
        #expect(Set(all) == Set(5000...5004))
        #expect(all.count == 5)
    }

    @Test("ranges never contain root")
    func noRoot() {
        #expect(UIDRange(first: 0, last: 10) == nil)
        #expect(UIDRange(first: 10, last: 5) == nil)
    }

    @Test("the engine's User field is uid:gid, numeric")
    func userField() {
        #expect(WorkspaceUser(uid: 2_000_001).description == "2000001:2000001")
    }
}
