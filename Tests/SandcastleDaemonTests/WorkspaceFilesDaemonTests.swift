import DockerEngine
import Foundation
import SandcastleTestSupport
import Testing

/// The workspace file and archive API of the real daemon, against a workspace a real session has
/// just filled with what a hostile sandbox plants.
@Suite("Workspace files through sandcastled", .serialized, .timeLimit(.minutes(5)))
struct WorkspaceFilesDaemonTests {
    typealias Daemon = DaemonProcessTests.Daemon

    /// What the session's shell plants in /workspace before it writes `done`.
    static let plant = """
        cd /workspace && ln -s / root && ln -s /etc/shadow shadow && ln -s ../.. up && mkfifo fifo \
        && truncate -s 1099511627776 sparse && printf x > "$(printf 'new\\nline')" && mkdir dir && echo hello > dir/file && ln -s dir/file inside \
        && touch done && exec sleep 3600
        """

    /// Status and body of one request.
    static func request(_ daemon: Daemon, _ arguments: [String]) async throws -> (status: Int, body: String) {
        let marker = "\n--status:"
        let output = try await daemon.curl(["-w", marker + "%{http_code}"] + arguments)
        guard let range = output.range(of: marker, options: .backwards), let status = Int(output[range.upperBound...]) else {
            throw DaemonProcessTests.ProcessFailure(description: "no status in \(output)")
        }
        return (status, String(output[..<range.lowerBound]))
    }

    /// SHA-256 of the host files a sandbox would most like to read or change and of a canary, and
    /// the workspaces that exist.
    static func hostState(_ directory: String) async throws -> [String] {
        let hashes = try await ChildProcess.run(
            "sha256sum", ["/etc/shadow", "/etc/passwd", directory + "/canary"], timeout: .seconds(30)).output
        return [hashes] + (try FileManager.default.contentsOfDirectory(atPath: directory + "/workspaces").sorted())
    }

    /// Type, mode, size, link target and mtime (whole seconds: what an archive keeps) of
    /// everything below `path`, via find(1).
    static func snapshot(_ path: String) async throws -> [String] {
        let output = try await ChildProcess.run(
            "find", [path, "-mindepth", "1", "-printf", "%P|%y|%m|%U|%s|%l|%TY-%Tm-%Td %TH:%TM:%.2TS\\0"], timeout: .seconds(30)).output
        return output.split(separator: "\0").map { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            return fields[1] == "d" ? fields.enumerated().map { $0.offset == 4 ? "-" : String($0.element) }.joined(separator: "|") : String(line)
        }.sorted()
    }

    @Test func everyOperationStaysInsideAHostileWorkspace() async throws {
        let directory = try DaemonLifecycleTests.scratch()
        try "do not touch".write(toFile: directory + "/canary", atomically: true, encoding: .utf8)
        try await DaemonLifecycleTests.withDaemon(directory) { daemon in
            try await daemon.waitUntilListening()
            let body = try JSONSerialization.data(withJSONObject: [
                "id": "files-1", "image": DaemonLifecycleTests.image, "profile": "default", "workspace": "hostile",
                "command": ["sh", "-c", Self.plant],
            ])
            let created = try await daemon.curl(["-H", "Content-Type: application/json", "-d", String(decoding: body, as: UTF8.self), "http://x/v1/sessions"])
            #expect(created.contains(#""state":"running""#), "\(created)")
            let files = "http://x/v1/workspaces/hostile/files"
            try await eventually("the session to plant its files", timeout: .seconds(30)) {
                try await Self.request(daemon, ["\(files)/done?stat"]).status == 200
            }
            let before = try await Self.hostState(directory)

            // Reads through links are refused; the fifo is refused at once; a range of the sparse file works.
            for path in ["root/etc/passwd", "shadow", "up/canary", "up/up/etc/shadow"] {
                let answer = try await Self.request(daemon, ["\(files)/\(path)"])
                #expect(answer.status == 422 && answer.body.contains("symlink"), "\(path): \(answer)")
            }
            let fifo = try await Self.request(daemon, ["\(files)/fifo"])
            #expect(fifo.status == 422 && fifo.body.contains("not_a_regular_file"), "\(fifo)")
            let range = try await Self.request(daemon, ["-H", "Range: bytes=1099511627770-", "\(files)/sparse"])
            #expect(range.status == 206 && range.body == String(repeating: "\0", count: 6), "\(range.status)")
            #expect(try await Self.request(daemon, ["\(files)/new%0Aline"]).body == "x")
            // HEAD through the real HTTP stack: GET's length and ETag, no body.
            let head = try await daemon.curl(["-I", "\(files)/new%0Aline"]).lowercased()
            #expect(head.hasPrefix("http/1.1 200") && head.contains("content-length: 1\r\n") && head.contains("etag: \""), "\(head)")
            let listing = try await Self.request(daemon, ["\(files)?list"])
            for name in ["\"root\"", "\"shadow\"", "\"fifo\"", "\"sparse\"", #""new\nline""#, "\"type\":\"symlink\"", "\"linkTarget\":\"/etc/shadow\""] {
                #expect(listing.body.contains(name), "\(name) not in \(listing.body)")
            }

            // Writes through links are refused; deleting a link removes the link only.
            for path in ["shadow", "root/tmp/evil", "up/canary", "up/evil"] {
                let answer = try await Self.request(daemon, ["-X", "PUT", "--data-binary", "evil", "\(files)/\(path)?parents=true"])
                #expect(answer.status == 422, "\(path): \(answer)")
            }
            let moved = try await Self.request(daemon, ["-X", "POST", "\(files)/dir?action=move&to=up/moved"])
            #expect(moved.status == 422, "\(moved)")
            #expect(try await Self.request(daemon, ["-X", "DELETE", "\(files)/root?recursive=true"]).status == 204)
            #expect(try await Self.request(daemon, ["-X", "DELETE", "\(files)/dir"]).status == 409)
            #expect(try await Self.request(daemon, ["\(files)/nothing-here"]).status == 404)
            #expect(try await Self.request(daemon, ["--path-as-is", "\(files)/a/../b"]).status == 422)

            // The 1 TB sparse file makes the whole workspace too large to download: refused, not streamed.
            let tooLarge = try await Self.request(daemon, ["http://x/v1/workspaces/hostile/archive"])
            #expect(tooLarge.status == 413 && tooLarge.body.contains("sparse"), "\(tooLarge)")

            // Two editors with the same If-Match: one wins, one gets 409.
            let stat = try await Self.request(daemon, ["\(files)/dir/file?stat"])
            let object = try JSONSerialization.jsonObject(with: Data(stat.body.utf8)) as? [String: Any]
            let tag = try #require(object?["etag"] as? String, "\(stat)")
            async let first = Self.request(daemon, ["-X", "PUT", "-H", "If-Match: \(tag)", "--data-binary", "first", "\(files)/dir/file"])
            async let second = Self.request(daemon, ["-X", "PUT", "-H", "If-Match: \(tag)", "--data-binary", "second", "\(files)/dir/file"])
            let statuses = try await [first.status, second.status].sorted()
            #expect(statuses == [200, 409], "\(statuses)")
            let content = try await Self.request(daemon, ["\(files)/dir/file"]).body
            #expect(content == "first" || content == "second")

            // An archive holding links out of the target is refused on upload: so the round trip
            // below starts without them (and without the 1 TB file).
            for path in ["sparse", "shadow", "up"] {
                #expect(try await Self.request(daemon, ["-X", "DELETE", "\(files)/\(path)"]).status == 204)
            }
            // Archive round trip: download, empty the workspace, upload; the tree compares equal.
            let workspace = directory + "/workspaces/hostile"
            let tree = try await Self.snapshot(workspace)
            let archive = directory + "/backup.tar.zst"
            #expect(try await Self.request(daemon, ["-o", archive, "http://x/v1/workspaces/hostile/archive?compression=zstd"]).status == 200)
            #expect(try await Self.request(daemon, ["-X", "DELETE", "\(files)?recursive=true"]).status == 204)
            #expect(try await Self.snapshot(workspace).isEmpty)
            let restored = try await Self.request(daemon, ["-X", "PUT", "-T", archive, "http://x/v1/workspaces/hostile/archive"])
            #expect(restored.status == 201, "\(restored)")
            #expect(try await Self.snapshot(workspace) == tree)

            // A hostile archive (an absolute path) is refused and changes nothing.
            let hostile = directory + "/hostile.tar"
            _ = try await ChildProcess.run("tar", ["-cPf", hostile, directory + "/canary"], timeout: .seconds(30))
            let refused = try await Self.request(daemon, ["-X", "PUT", "-T", hostile, "http://x/v1/workspaces/hostile/archive/restore"])
            #expect(refused.status == 422 && refused.body.contains("unsafe_entry"), "\(refused)")
            #expect(try await Self.snapshot(workspace) == tree)
            #expect(try await Self.hostState(directory) == before)
        }
    }
}
