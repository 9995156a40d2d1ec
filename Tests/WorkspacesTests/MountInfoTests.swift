import Testing

@testable import Workspaces

@Suite("mountinfo parsing")
struct MountInfoTests {
    static let sample = """
        22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        94 22 7:0 / /srv/work\\040spaces/demo rw,nosuid,nodev,relatime shared:40 master:2 - ext4 /dev/loop0 rw
        95 22 0:50 / /srv/workspaces/dem rw - tmpfs tmpfs rw,size=1024k
        96 22 0:51 /sub /srv/back\\134slash\\011tab\\012nl rw - tmpfs none rw
        not a mountinfo line
        97 94 7:1 / /srv/work\\040spaces/demo rw,nosuid,nodev - ext4 /dev/loop1 rw,errors=remount-ro
        """

    @Test("fields, optional fields and the separator")
    func fields() throws {
        let table = MountTable(text: Self.sample)
        #expect(table.entries.count == 5)
        let root = try #require(table.entries.first)
        #expect(root.mountID == 22 && root.parentID == 1 && root.device == "254:0")
        #expect(root.root == "/" && root.mountPoint == "/" && root.options == ["rw", "relatime"])
        #expect(root.fileSystemType == "ext4" && root.source == "/dev/vda" && root.superOptions == ["rw"])
        let loop = table.entries[1]
        #expect(loop.options == ["rw", "nosuid", "nodev", "relatime"])
        #expect(loop.source == "/dev/loop0")
    }

    @Test("octal escapes in paths are undone: \\040 space, \\011 tab, \\012 newline, \\134 backslash")
    func escapes() {
        let table = MountTable(text: Self.sample)
        #expect(table.entries[1].mountPoint == "/srv/work spaces/demo")
        #expect(table.entries[3].mountPoint == "/srv/back\\slash\ttab\nnl")
        #expect(table.entries[3].root == "/sub")
        #expect(MountInfoEntry.unescape("a\\040b\\04") == "a b\\04")
        #expect(MountInfoEntry.unescape("\\999x\\") == "\\999x\\")
        #expect(MountInfoEntry.unescape("\\303\\251") == "é")
    }

    @Test("the mount at a path matches exactly, and the last one stacked there is on top")
    func topMount() {
        let table = MountTable(text: Self.sample)
        #expect(table.topMount(at: "/srv/work spaces/demo")?.source == "/dev/loop1")
        #expect(table.mountCount(at: "/srv/work spaces/demo") == 2)
        #expect(table.topMount(at: "/srv/workspaces/dem")?.fileSystemType == "tmpfs")
        #expect(table.topMount(at: "/srv/workspaces/demo") == nil)
        #expect(table.topMount(at: "/srv/work spaces") == nil)
        #expect(table.topMount(at: "/srv/work spaces/demo/") == nil)
    }

    @Test("lines without mountinfo's shape are skipped", arguments: [
        "", "1 2 3:4 / /x rw", "a 2 3:4 / /x rw - ext4 /dev/x rw", "1 2 3:4 / /x rw - ext4", "1 2 3:4 / /x rw ext4 /d rw o",
    ])
    func malformed(line: String) {
        #expect(MountInfoEntry(line: Substring(line)) == nil)
    }
}
