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

    @Test("candidates of the widest range are computed as they are taken, not listed up front")
    func candidatesOfTheWidestRange() throws {
        // 2^32 - 1 uids: a listing of them would need 16 GiB.
        let widest = try #require(UIDRange(first: 1, last: UInt32.max))
        let preferred = widest.preferredUID(forWorkspace: "w")
        let firstFew = Array(widest.candidates(forWorkspace: "w").prefix(3))
        let expected = (0..<3).map { UInt32(1 + (UInt64(preferred - 1) + UInt64($0)) % widest.count) }
        #expect(firstFew == expected)
        // Wrapping at the last uid: the range's end is followed by its start.
        let end = try #require(UIDRange(first: UInt32.max - 1, last: UInt32.max))
        let order = Array(end.candidates(forWorkspace: "w"))
        #expect(Set(order) == [UInt32.max - 1, UInt32.max])
        #expect(order.count == 2)
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
