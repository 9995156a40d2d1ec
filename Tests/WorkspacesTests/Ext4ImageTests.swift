import Foundation
import Logging
import SandboxPolicy
import Testing

@testable import Workspaces

@Suite("ext4 images: names, sizes, superblocks")
struct Ext4ImageTests {
    @Test("one image per workspace name; the temporary name never collides with a real one")
    func names() {
        #expect(Ext4Image.fileName(forWorkspace: "demo") == "demo.ext4")
        #expect(Ext4Image.temporaryFileName(forWorkspace: "demo") == "demo.ext4.new")
        // A workspace named like another's temporary file still gets a name ending in .ext4.
        #expect(Ext4Image.fileName(forWorkspace: "demo.ext4.new") == "demo.ext4.new.ext4")
        #expect(Ext4Image.fileName(forWorkspace: String(repeating: "a", count: 128)).utf8.count <= 255)
    }

    @Test("the image path is the image directory plus the name")
    func imagePath() throws {
        let limiter = try Ext4ImageWorkspaceLimiter(
            imageDirectory: "/var/lib/sandcastle/workspace-images/", resolver: WorkspaceResolver(root: "/srv/ws"),
            logger: Logger(label: "test"))
        #expect(limiter.imageDirectory == "/var/lib/sandcastle/workspace-images")
        #expect(limiter.imagePath(forWorkspace: "demo") == "/var/lib/sandcastle/workspace-images/demo.ext4")
    }

    @Test(
        "image directories that are relative, system, or overlap the workspace root are refused",
        arguments: ["images", "/srv/ws", "/srv/ws/images", "/srv", "/", "/var/lib/docker/x", "/srv/../images", "/etc/x"])
    func badDirectories(directory: String) throws {
        let resolver = try WorkspaceResolver(root: "/srv/ws")
        #expect {
            try Ext4ImageWorkspaceLimiter(imageDirectory: directory, resolver: resolver, logger: Logger(label: "test"))
        } throws: { ($0 as? WorkspaceError)?.code == .invalidRoot }
    }

    @Test("a limit becomes whole 4 KiB blocks, never more than the limit; out-of-range limits are refused")
    func sizes() {
        #expect(Ext4Image.imageBytes(forLimit: 64 << 20) == 64 << 20)
        #expect(Ext4Image.imageBytes(forLimit: (64 << 20) + 4095) == 64 << 20)
        #expect(Ext4Image.imageBytes(forLimit: (16 << 20) - 1) == nil)
        #expect(Ext4Image.imageBytes(forLimit: 16 << 20) == 16 << 20)
        #expect(Ext4Image.imageBytes(forLimit: -1) == nil)
        #expect(Ext4Image.imageBytes(forLimit: Int64.max) == nil)
        #expect(Ext4Image.resizeArgument(64 << 20) == "65536K")
        #expect(Ext4Image.resizeArgument(1 << 30) == "1048576K")
    }

    @Test("superblock fields, 32 and 64 bit, and what is not a superblock")
    func superblock() throws {
        var bytes = [UInt8](repeating: 0, count: 1024)
        func put32(_ value: UInt32, at offset: Int) {
            for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        bytes[0x38] = 0x53
        bytes[0x39] = 0xEF
        put32(2, at: 0x18)  // 4096-byte blocks
        put32(16384, at: 0x04)
        put32(1000, at: 0x0C)
        let narrow = try #require(Ext4Superblock(bytes))
        #expect(narrow.blockSize == 4096 && narrow.blockCount == 16384)
        #expect(narrow.sizeBytes == 64 << 20 && narrow.usedBytes == (16384 - 1000) * 4096)
        put32(1, at: 0x150)  // ignored without the 64bit feature
        #expect(Ext4Superblock(bytes)?.blockCount == 16384)
        put32(0x80, at: 0x60)
        let wide = try #require(Ext4Superblock(bytes))
        let expected: Int64 = (1 << 32) + 16384
        #expect(wide.blockCount == expected)
        bytes[0x38] = 0
        #expect(Ext4Superblock(bytes) == nil)
        #expect(Ext4Superblock([UInt8](repeating: 0, count: 100)) == nil)
    }

    @Test(
        "mkfs.ext4 as the limiter runs it, on a file: the superblock reader sees its size",
        .enabled(if: Tool.mkfs.path != nil, "needs e2fsprogs"))
    func realSuperblock() throws {
        // Formatting a regular file needs no privilege and mounts nothing.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quota-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("w.ext4").path
        #expect(FileManager.default.createFile(atPath: image, contents: nil))
        #expect(truncate(image, 32 << 20) == 0)
        let run = try #require(
            try Tool.mkfs.run(
                ["-q", "-F", "-b", "4096", "-m", "0", "-E", "root_owner=2000042:2000042", image], workspace: "test",
                step: "mkfs"))
        #expect(run.status == 0, "\(run.output)")
        let fd = open(image, O_RDONLY)
        defer { close(fd) }
        let superblock = try ImageDirectory.readSuperblock(fd, path: image)
        #expect(superblock.blockSize == 4096)
        #expect(superblock.sizeBytes == 32 << 20)
        #expect(superblock.usedBytes > 0 && superblock.usedBytes < 8 << 20)
    }
}
