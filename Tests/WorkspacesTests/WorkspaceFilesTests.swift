import Foundation
import SandcastleTestSupport
import Testing

import SandboxPolicy
@testable import Workspaces

/// The file operations on a real directory, with the things a sandbox plants: symlinks out of the
/// workspace, fifos, directories swapped for symlinks while we work.
@Suite("Workspace files")
struct WorkspaceFilesTests {
    static let owner = WorkspaceUser(uid: 2_000_077)

    /// A workspace `ws` under a fresh root, and a directory outside it that must never change.
    struct Fixture {
        let root = try! TemporaryDirectory()
        let outside = try! TemporaryDirectory()
        let workspace: OpenWorkspace
        var path: String { root.path + "/ws" }

        init(limits: WorkspaceFileLimits = WorkspaceFileLimits()) throws {
            let resolver = try WorkspaceResolver(root: root.path)
            _ = try resolver.resolve("ws", creatingFor: WorkspaceFilesTests.owner)
            try outside.write("secret", "outside secret")
            workspace = try WorkspaceFiles(resolver: resolver, limits: limits).workspace("ws")
        }

        func shell(_ script: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script]
            process.currentDirectoryURL = URL(fileURLWithPath: path)
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(script)")
        }

        /// Everything outside, as `name: content`, to compare before and after.
        func outsideState() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: outside.path).sorted().map {
                "\($0): " + ((try? String(contentsOfFile: outside.path + "/" + $0, encoding: .utf8)) ?? "?")
            }
        }
    }

    func code<T>(_ body: () throws -> T) -> WorkspaceFileError.Code? {
        do {
            _ = try body()
            return nil
        } catch let error as WorkspaceFileError {
            return error.code
        } catch {
            Issue.record("not a WorkspaceFileError: \(error)")
            return nil
        }
    }

    func read(_ workspace: OpenWorkspace, _ path: String) throws -> String {
        let file = try workspace.openForReading(WorkspacePath(path))
        var bytes = [UInt8](repeating: 0, count: Int(file.info.size))
        let count = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        return String(decoding: bytes.prefix(count), as: UTF8.self)
    }

    func write(_ workspace: OpenWorkspace, _ path: String, _ text: String, _ precondition: WritePrecondition = .none, parents: Bool = false)
        throws -> FileInfo
    {
        let pending = try workspace.beginWrite(WorkspacePath(path), parents: parents)
        try Array(text.utf8).withUnsafeBytes { try pending.write($0) }
        return try pending.commit(precondition).info
    }

    @Test("paths: . .. // NUL and over-long names are refused; the top is the empty path")
    func paths() throws {
        #expect(try WorkspacePath("/a/b/").components == [Array("a".utf8), Array("b".utf8)])
        #expect(try WorkspacePath("").isRoot && WorkspacePath("/").isRoot)
        for bad in ["a/../b", "..", "./a", "a//b", "a/\u{0}", String(repeating: "x", count: 256), String(repeating: "a/", count: 2049)] {
            #expect(code { () throws(WorkspaceFileError) in try WorkspacePath(bad) } == .invalidPath, "\(bad.prefix(20))")
        }
        #expect(try WorkspacePath("new\nline").description == "/new\\x0aline")
    }

    @Test("symlinks anywhere on a path are refused, never followed, for every operation")
    func symlinksAreNeverFollowed() throws {
        let fixture = try Fixture()
        try fixture.shell("ln -s \(fixture.outside.path) out && ln -s / root && ln -s ../.. up && ln -s \(fixture.outside.path)/secret secret && mkdir d")
        let before = try fixture.outsideState()
        let workspace = fixture.workspace
        for path in ["out/secret", "secret", "up/etc/passwd", "root/etc/shadow"] {
            #expect(code { try read(workspace, path) } == .symlink, "\(path)")
        }
        #expect(code { try write(workspace, "out/new", "x") } == .symlink)
        #expect(code { try write(workspace, "out/secret", "x") } == .symlink)
        #expect(code { try write(workspace, "out/a/b", "x", parents: true) } == .symlink)
        #expect(code { try write(workspace, "secret", "x") } == .symlink)
        #expect(code { try workspace.makeDirectory(WorkspacePath("out/new"), parents: true) } == .symlink)
        #expect(code { try workspace.list(WorkspacePath("out"), after: nil, limit: 10) } == .symlink)
        #expect(code { try workspace.move(WorkspacePath("d"), to: WorkspacePath("out/d"), overwrite: true, parents: false) } == .symlink)
        #expect(code { try workspace.delete(WorkspacePath("out/secret"), recursive: false) } == .symlink)
        // The link itself is stat-able, listed as a link, and deleted as a link.
        let info = try workspace.stat(WorkspacePath("out"))
        #expect(info.kind == .symlink && info.linkTarget == Array(fixture.outside.path.utf8))
        try workspace.delete(WorkspacePath("out"), recursive: true)
        try fixture.shell("ln -s \(fixture.outside.path) out2")
        try workspace.delete(WorkspacePath(""), recursive: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path).isEmpty)
        #expect(try fixture.outsideState() == before)
    }

    @Test("fifos are refused at once, never opened for reading or replaced")
    func fifos() throws {
        let fixture = try Fixture()
        try fixture.shell("mkfifo pipe")
        #expect(code { try read(fixture.workspace, "pipe") } == .notRegularFile)
        #expect(code { try write(fixture.workspace, "pipe", "x") } == .notRegularFile)
        #expect(try fixture.workspace.stat(WorkspacePath("pipe")).kind == .fifo)
    }

    @Test("writes are atomic, owned by the workspace's uid, keep the mode without setuid; If-Match lets one of two writers win")
    func writes() throws {
        let fixture = try Fixture()
        let workspace = fixture.workspace
        let created = try write(workspace, "a/b/file.txt", "one", parents: true)
        #expect(created.uid == Self.owner.uid && created.gid == Self.owner.gid && created.mode == 0o644)
        var info = stat()
        #expect(lstat(fixture.path + "/a/b", &info) == 0 && info.st_uid == Self.owner.uid)
        try fixture.shell("chmod 4755 a/b/file.txt")
        let tag = try #require(try workspace.stat(WorkspacePath("a/b/file.txt")).etag)
        // The loser's temporary file goes when its write is dropped.
        let won = try { () throws -> FileInfo in
            let first = try workspace.beginWrite(WorkspacePath("a/b/file.txt"), parents: false)
            let second = try workspace.beginWrite(WorkspacePath("a/b/file.txt"), parents: false)
            try Array("two".utf8).withUnsafeBytes { try first.write($0) }
            try Array("three".utf8).withUnsafeBytes { try second.write($0) }
            let won = try first.commit(.ifMatch(tag)).info
            #expect(code { try second.commit(.ifMatch(tag)) } == .preconditionFailed)
            return won
        }()
        #expect(won.mode == 0o755 && won.etag != tag)
        #expect(try read(workspace, "a/b/file.txt") == "two")
        #expect(code { try write(workspace, "a/b/file.txt", "x", .ifNoneMatchAny) } == .preconditionFailed)
        // No temporary file is left behind, whether committed or dropped.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path + "/a/b") == ["file.txt"])
        let small = try Fixture(limits: WorkspaceFileLimits(maxWriteBytes: 2))
        #expect(code { try write(small.workspace, "big", "abc") } == .tooLarge)
        #expect(try FileManager.default.contentsOfDirectory(atPath: small.path).isEmpty)
    }

    @Test("listing pages through names in byte order, hidden files and odd names included")
    func listing() throws {
        let fixture = try Fixture()
        try fixture.shell("touch .hidden b a 'new\nline' && mkdir c")
        let first = try fixture.workspace.list(WorkspacePath(""), after: nil, limit: 2)
        #expect(first.entries.map { String(decoding: $0.name, as: UTF8.self) } == [".hidden", "a"] && first.more)
        let rest = try fixture.workspace.list(WorkspacePath(""), after: first.entries.last?.name, limit: 10)
        #expect(rest.entries.map { String(decoding: $0.name, as: UTF8.self) } == ["b", "c", "new\nline"] && !rest.more)
        #expect(rest.entries[1].kind == .directory)
    }

    @Test("delete: a directory only recursively; move refuses to replace unless asked")
    func deleteAndMove() throws {
        let fixture = try Fixture()
        let workspace = fixture.workspace
        try fixture.shell("mkdir -p d/e && touch d/e/f x y")
        #expect(code { try workspace.delete(WorkspacePath("d"), recursive: false) } == .notEmpty)
        #expect(code { try workspace.move(WorkspacePath("x"), to: WorkspacePath("y"), overwrite: false, parents: false) } == .exists)
        _ = try workspace.move(WorkspacePath("x"), to: WorkspacePath("y"), overwrite: true, parents: false)
        #expect(code { try workspace.move(WorkspacePath("d"), to: WorkspacePath("d/e/g"), overwrite: false, parents: false) } == .invalidPath)
        try workspace.delete(WorkspacePath("d"), recursive: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path) == ["y"])
    }

    @Test("a directory swapped for a symlink while files are written and read never leads outside")
    func swapRace() throws {
        let fixture = try Fixture()
        try fixture.shell("mkdir d && echo inside > d/secret")
        let before = try fixture.outsideState()
        let stop = SharedFlag(false)
        let (path, outside) = (fixture.path, fixture.outside.path)
        let swapper = Thread {
            // d is a directory one moment and a symlink out of the workspace the next.
            while !stop.value {
                _ = rename(path + "/d", path + "/real")
                _ = symlink(outside, path + "/d")
                _ = unlink(path + "/d")
                _ = rename(path + "/real", path + "/d")
            }
        }
        swapper.start()
        var outcomes: Set<String> = []
        for index in 0..<2000 {
            if let text = try? read(fixture.workspace, "d/secret") {
                #expect(text == "inside\n")
                outcomes.insert("read")
            }
            if (try? write(fixture.workspace, "d/new-\(index)", "x")) != nil { outcomes.insert("write") }
            _ = try? fixture.workspace.delete(WorkspacePath("d/new-\(index)"), recursive: false)
            _ = try? fixture.workspace.list(WorkspacePath("d"), after: nil, limit: 10)
        }
        stop.value = true
        while !swapper.isFinished { usleep(1000) }
        #expect(try fixture.outsideState() == before)
        #expect(outcomes.contains("read"), "the race never let a read through: the test did not exercise anything")
    }

    @Test("archive round trip keeps modes, symlinks, fifos and mtimes")
    func archiveRoundTrip() throws {
        let fixture = try Fixture()
        try fixture.shell("""
            mkdir -p src/sub && echo hello > src/sub/a && chmod 640 src/sub/a && ln -s sub/a src/link && mkfifo src/pipe \
            && chmod 711 src/sub && printf 'x' > 'src/new\nline' && printf y > "src/$(printf 'caf\\303\\251-\\377')" && touch -d '2001-02-03 04:05:06' src/sub/a src/sub src/link -h \
            && chown -hR \(Self.owner.uid):\(Self.owner.gid) src
            """)
        let before = try snapshot(fixture.path + "/src")
        var tar: [UInt8] = []
        let written = try fixture.workspace.writeArchive(of: WorkspacePath("src"), compression: .zstd) { tar += $0; return true }
        #expect(written.entries == 6)
        try fixture.workspace.delete(WorkspacePath("src"), recursive: true)
        var chunks = stride(from: 0, to: tar.count, by: 1000).map { Array(tar[$0..<min($0 + 1000, tar.count)]) }
        chunks.reverse()
        let read = try fixture.workspace.unpackArchive(into: WorkspacePath("src")) { chunks.popLast() }
        #expect(read.entries == 6)
        let after = try snapshot(fixture.path + "/src")
        #expect(after == before, "\(before.difference(from: after))")
        // Into the top of an emptied workspace, too.
        try fixture.workspace.delete(WorkspacePath(""), recursive: true)
        var again = [tar]
        _ = try fixture.workspace.unpackArchive(into: WorkspacePath("")) { again.popLast() }
        #expect(try snapshot(fixture.path) == before)
    }

    /// Type, mode, owner, size, link target and mtime (whole seconds: what an archive keeps) of
    /// everything below `path`.
    func snapshot(_ path: String) throws -> [String] {
        let output = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/find")
        process.arguments = [".", "-mindepth", "1", "-printf", "%P|%y|%m|%U:%G|%s|%l|%TY-%Tm-%Td %TH:%TM:%.2TS\\0"]
        process.currentDirectoryURL = URL(fileURLWithPath: path)
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\0").map { line in
            // Directories' sizes depend on their history, not their content.
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            return fields[1] == "d" ? fields.enumerated().map { $0.offset == 4 ? "-" : String($0.element) }.joined(separator: "|") : String(line)
        }.sorted()
    }

    @Test("hostile archives are refused whole and change nothing", arguments: [
        ("absolute path", [("/etc/evil", TarBuilder.Kind.file, "")]),
        ("dot-dot", [("a/../../evil", .file, "")]),
        ("symlink out", [("link", .symlink, "../../etc"), ("link/passwd", .file, "")]),
        ("absolute symlink", [("link", .symlink, "/etc/shadow")]),
        ("hard link out", [("hard", .hardLink, "../outside")]),
        ("device", [("dev", .charDevice, "")]),
        ("setuid", [("suid", .file, "4755")]),
    ])
    func hostileArchives(_ name: String, _ entries: [(String, TarBuilder.Kind, String)]) throws {
        let fixture = try Fixture()
        let before = try fixture.outsideState()
        var tar = TarBuilder()
        tar.add("ok.txt", content: Array("fine".utf8))
        for (path, kind, extra) in entries {
            tar.add(path, kind, mode: extra == "4755" ? 0o4755 : 0o644, content: kind == .file ? [1, 2] : [], link: kind == .file ? "" : extra)
        }
        var chunks = [tar.archive]
        #expect(code { try fixture.workspace.unpackArchive(into: WorkspacePath("target")) { chunks.popLast() } } == .unsafeEntry, "\(name)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path).isEmpty, "\(name) left files behind")
        #expect(try fixture.outsideState() == before)
    }

    @Test("entry and size limits end an upload with nothing left; a non-empty target is refused")
    func archiveLimits() throws {
        let fixture = try Fixture(limits: WorkspaceFileLimits(maxArchiveBytes: 1000, maxArchiveEntries: 3))
        var many = TarBuilder()
        for index in 0..<5 { many.add("f\(index)") }
        var chunks = [many.archive]
        #expect(code { try fixture.workspace.unpackArchive(into: WorkspacePath("t")) { chunks.popLast() } } == .tooLarge)
        var big = TarBuilder()
        big.add("big", content: [UInt8](repeating: 7, count: 2000))
        chunks = [big.archive]
        #expect(code { try fixture.workspace.unpackArchive(into: WorkspacePath("t")) { chunks.popLast() } } == .tooLarge)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path).isEmpty)
        try fixture.shell("mkdir t && touch t/x")
        chunks = [TarBuilder().archive]
        #expect(code { try fixture.workspace.unpackArchive(into: WorkspacePath("t")) { chunks.popLast() } } == .notEmpty)
        chunks = [Array("not a tar at all".utf8) + [UInt8](repeating: 1, count: 1024)]
        #expect(code { try fixture.workspace.unpackArchive(into: WorkspacePath("u")) { chunks.popLast() } } == .badArchive)
    }

    @Test("a download over the archive limit (a huge sparse file) is refused before any byte")
    func sparseDownload() throws {
        let fixture = try Fixture()
        try fixture.shell("truncate -s 1T huge")
        var sent = 0
        #expect(code { try fixture.workspace.writeArchive(of: WorkspacePath(""), compression: .none) { sent += $0.count; return true } } == .tooLarge)
        #expect(sent == 0)
    }
}

/// A flag two threads share in a test.
final class SharedFlag: @unchecked Sendable {
    // Guarded by the lock.
    private var stored: Bool
    private let lock = NSLock()
    init(_ value: Bool) { stored = value }
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
