import Foundation
import SandcastleTestSupport
import Testing

import SandboxPolicy
@testable import Workspaces

@Suite("Workspace resolution and deletion")
struct WorkspaceResolverTests {
    static let owner = WorkspaceUser(uid: 2_000_042)

    func code(_ body: () throws(WorkspaceError) -> Void) -> WorkspaceError.Code? {
        do {
            try body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test("a missing workspace is created 0700, owned by the workspace uid, and held open")
    func create() throws {
        let root = try TemporaryDirectory()
        let resolver = try WorkspaceResolver(root: root.path)
        let workspace = try resolver.resolve("demo", creatingFor: Self.owner)
        #expect(workspace.path == root.path + "/demo")
        var info = stat()
        #expect(lstat(workspace.path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFDIR)
        #expect(info.st_mode & 0o7777 == 0o700)
        #expect(info.st_uid == Self.owner.uid && info.st_gid == Self.owner.gid)
        #expect(UInt64(info.st_ino) == workspace.inode && UInt64(info.st_dev) == workspace.device)
        #expect(fcntl(workspace.descriptor, F_GETFD) >= 0)
        try workspace.verifyUnchanged()
        // Resolving again finds the same directory and leaves its owner alone.
        let again = try resolver.resolve("demo", creatingFor: WorkspaceUser(uid: 2_000_043))
        #expect(again.inode == workspace.inode)
        #expect(lstat(workspace.path, &info) == 0 && info.st_uid == Self.owner.uid)
    }

    @Test("without an owner a missing workspace is not created")
    func notCreated() throws {
        let root = try TemporaryDirectory()
        let resolver = try WorkspaceResolver(root: root.path)
        #expect(code { () throws(WorkspaceError) in _ = try resolver.resolve("absent") } == .notFound)
        #expect(!root.exists("absent"))
    }

    @Test(
        "names that are not one plain component are refused",
        arguments: ["..", ".", "/etc", "a/b", "a\u{0}b", "", "x y", String(repeating: "a", count: 129)])
    func badNames(name: String) throws {
        let root = try TemporaryDirectory()
        let resolver = try WorkspaceResolver(root: root.path)
        #expect(
            code { () throws(WorkspaceError) in _ = try resolver.resolve(name, creatingFor: Self.owner) }
                == .invalidName)
        #expect(code { () throws(WorkspaceError) in try resolver.delete(name) } == .invalidName)
    }

    @Test("a workspace that is a symlink is refused, not followed")
    func symlinkedWorkspace() throws {
        let root = try TemporaryDirectory()
        let target = try TemporaryDirectory()
        try root.symlink("demo", to: target.path)
        let resolver = try WorkspaceResolver(root: root.path)
        #expect(
            code { () throws(WorkspaceError) in _ = try resolver.resolve("demo", creatingFor: Self.owner) } == .symlink)
        #expect(code { () throws(WorkspaceError) in _ = try resolver.resolve("demo") } == .symlink)
    }

    @Test("a workspace that is a file is refused")
    func fileWorkspace() throws {
        let root = try TemporaryDirectory()
        try root.write("demo", "not a directory")
        let resolver = try WorkspaceResolver(root: root.path)
        #expect(
            code { () throws(WorkspaceError) in _ = try resolver.resolve("demo", creatingFor: Self.owner) }
                == .notADirectory)
    }

    @Test("a symlink anywhere in the root's own path is refused")
    func symlinkedRoot() throws {
        let base = try TemporaryDirectory()
        try base.makeDirectory("real/workspaces")
        try base.symlink("link", to: base.path + "/real")
        let resolver = try WorkspaceResolver(root: base.path + "/link/workspaces")
        #expect(
            code { () throws(WorkspaceError) in _ = try resolver.resolve("demo", creatingFor: Self.owner) } == .symlink)
        #expect(!base.exists("real/workspaces/demo"))
    }

    @Test(
        "roots that are relative, unnormalised, or overlap system directories are refused",
        arguments: [
            "relative", "/srv/../etc", "/srv//ws", "/", "/var", "/run/sandcastle", "/var/run", "/etc/ws", "/proc/self",
            "/var/lib/docker/x",
        ])
    func badRoots(root: String) {
        #expect(code { () throws(WorkspaceError) in _ = try WorkspaceResolver(root: root) } == .invalidRoot)
    }

    @Test("a trailing slash on the root is tolerated")
    func trailingSlash() throws {
        #expect(try WorkspaceResolver(root: "/var/lib/sandcastle/workspaces/").root == "/var/lib/sandcastle/workspaces")
    }

    @Test("verifyUnchanged notices a swapped directory and a swapped-in symlink")
    func swapped() throws {
        let root = try TemporaryDirectory()
        let resolver = try WorkspaceResolver(root: root.path)
        let workspace = try resolver.resolve("demo", creatingFor: Self.owner)
        #expect(rename(root.path + "/demo", root.path + "/moved") == 0)
        try root.makeDirectory("demo")
        #expect(code { () throws(WorkspaceError) in try workspace.verifyUnchanged() } == .changed)
        #expect(rmdir(root.path + "/demo") == 0)
        try root.symlink("demo", to: root.path + "/moved")
        #expect(code { () throws(WorkspaceError) in try workspace.verifyUnchanged() } == .symlink)
    }

    @Test("deletion removes nested directories and files")
    func deleteNested() throws {
        let root = try TemporaryDirectory()
        let resolver = try WorkspaceResolver(root: root.path)
        _ = try resolver.resolve("demo", creatingFor: Self.owner)
        try root.makeDirectory("demo/a/b/c")
        try root.write("demo/a/b/c/file", "x")
        try root.write("demo/top", "y")
        try root.makeDirectory("demo/.hidden/empty")
        try root.makeDirectory("keep")
        #expect(try resolver.delete("demo"))
        #expect(!root.exists("demo"))
        #expect(root.exists("keep"))
        #expect(try !resolver.delete("demo"), "a missing workspace is not an error")
    }

    @Test("deletion removes a symlink inside, never its target")
    func deleteSymlinkInside() throws {
        let root = try TemporaryDirectory()
        let target = try TemporaryDirectory()
        try target.makeDirectory("precious")
        try target.write("precious/data", "keep me")
        let resolver = try WorkspaceResolver(root: root.path)
        _ = try resolver.resolve("demo", creatingFor: Self.owner)
        try root.makeDirectory("demo/sub")
        try root.symlink("demo/to-target", to: target.path)
        try root.symlink("demo/sub/to-precious", to: target.path + "/precious")
        try root.symlink("demo/dangling", to: "/nonexistent/sandcastle")
        #expect(try resolver.delete("demo"))
        #expect(!root.exists("demo"))
        #expect(target.exists("precious/data"))
    }

    @Test("a workspace that is itself a symlink: the link is removed, the target kept")
    func deleteSymlinkedWorkspace() throws {
        let root = try TemporaryDirectory()
        let target = try TemporaryDirectory()
        try target.write("data", "keep me")
        try root.symlink("demo", to: target.path)
        #expect(try WorkspaceResolver(root: root.path).delete("demo"))
        #expect(!root.exists("demo"))
        #expect(target.exists("data"))
    }

    @Test("deletion handles names that are not UTF-8 and trees deeper than it holds open")
    func deleteDeepAndOddNames() throws {
        let root = try TemporaryDirectory()
        let resolver = try WorkspaceResolver(root: root.path)
        let workspace = try resolver.resolve("demo", creatingFor: Self.owner)
        // A file named with bytes that are not UTF-8.
        let odd: [CChar] = [0x66, -1, -2, 0x2e, 0x74, 0]
        let fd = openat(workspace.descriptor, odd, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        close(fd)
        // A chain three times deeper than the deletion keeps open.
        var parent = dup(workspace.descriptor)
        for _ in 0..<(WorkspaceResolver.deletionDepth * 3) {
            #expect(mkdirat(parent, "d", 0o700) == 0)
            let child = openat(parent, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(parent)
            parent = child
        }
        #expect(openat(parent, "leaf", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600) >= 0)
        close(parent)
        #expect(try resolver.delete("demo"))
        #expect(!root.exists("demo"))
    }
}
