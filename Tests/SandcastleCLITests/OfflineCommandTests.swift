import Foundation
import NIOCore
import SandcastleTestSupport
import Testing

@testable import SandcastleCLI
@testable import SandcastleClient

/// What the CLI does without a daemon: its message when the daemon is down, `doctor` on a broken
/// set-up, `policy check`.
@Suite("sandcastle without a daemon")
struct OfflineCommandTests {
    static func temporaryDirectory() throws -> String {
        let directory = "/tmp/sc-cli-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func daemonDownIsOneClearLineAndExit3() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/nothing.sock"
        for arguments in [["ls"], ["inspect", "x"], ["events", "-f"], ["attach", "x"]] {
            let run = try await Binaries.sandcastle(arguments + ["--socket", socket])
            #expect(run.status == 3, "\(arguments): \(run)")
            let lines = run.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(run)")
            #expect(run.stderr.contains("not running at \(socket)") && run.stderr.contains("systemctl start sandcastled"), "\(run)")
        }
        let tcp = try await Binaries.sandcastle(["ls", "--url", "http://127.0.0.1:9"])
        #expect(tcp.status == 3 && tcp.stderr.contains("http://127.0.0.1:9"), "\(tcp)")
        let bad = try await Binaries.sandcastle(["ls", "--url", "ftp://x"])
        #expect(bad.status == 2, "\(bad)")
    }

    @Test func doctorNamesEachBrokenPart() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The state directory is a file; the engine socket leads nowhere; no daemon runs.
        _ = FileManager.default.createFile(atPath: directory + "/state-is-a-file", contents: Data("x".utf8))
        let config = """
            [api]
            socket = "\(directory)/api.sock"
            [engine]
            endpoint = "unix://\(directory)/no-docker.sock"
            [paths]
            state_directory = "\(directory)/state-is-a-file"
            workspace_root = "\(directory)/workspaces"
            policies = "\(Binaries.repositoryRoot.appendingPathComponent("Policies").path)"
            """
        try config.write(toFile: directory + "/broken.toml", atomically: true, encoding: .utf8)
        let run = try await Binaries.sandcastle(["doctor", "--config", directory + "/broken.toml"])
        #expect(run.status == 8, "\(run)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        // A check's line: status, then its name in the second column.
        func line(_ name: String) -> String? { lines.first { !$0.hasPrefix(" ") && $0.dropFirst(6).hasPrefix(name + " ") } }
        #expect(line("config")?.hasPrefix("ok") == true, "\(run)")
        #expect(line("engine")?.hasPrefix("FAIL") == true && line("engine")?.contains("no-docker.sock") == true, "\(run)")
        #expect(line("state directory")?.hasPrefix("FAIL") == true && line("state directory")?.contains("not a directory") == true, "\(run)")
        #expect(line("workspace root")?.hasPrefix("ok") == true, "\(run)")
        #expect(line("policies")?.hasPrefix("ok") == true, "\(run)")
        #expect(line("daemon")?.hasPrefix("FAIL") == true, "\(run)")
        #expect(run.stdout.contains("fix: start Docker"), "\(run)")

        // A world-writable workspace root is named with its fix.
        try FileManager.default.createDirectory(atPath: directory + "/workspaces", withIntermediateDirectories: true)
        chmod(directory + "/workspaces", 0o777)
        let open = try await Binaries.sandcastle(["doctor", "--config", directory + "/broken.toml"])
        #expect(open.stdout.contains("writable by everyone") && open.stdout.contains("fix: chmod 755 \(directory)/workspaces"), "\(open)")

        // An invalid configuration: the file, the line and the key.
        try "[api]\nsocket = \"/x.sock\"\ncolour = \"blue\"\n".write(toFile: directory + "/invalid.toml", atomically: true, encoding: .utf8)
        let invalid = try await Binaries.sandcastle(["doctor", "--config", directory + "/invalid.toml"])
        #expect(invalid.status == 8, "\(invalid)")
        let configLine = try #require(invalid.stdout.split(separator: "\n").first { $0.hasPrefix("FAIL") && $0.contains(" config ") }, "\(invalid)")
        #expect(configLine.contains("invalid.toml") && configLine.contains("line 3") && configLine.contains("colour"), "\(invalid)")
    }

    @Test(.requiresEngine) func doctorOnAHealthyEngine() async throws {
        // The engine this suite runs against: reachable, limits and seccomp supported.
        let run = try await Binaries.sandcastle(["doctor", "--socket", "/nonexistent/sandcastle.sock"])
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains(" engine ") && $0.contains("API") }, "\(run)")
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains(" cgroup limits ") }, "\(run)")
        #expect(lines.contains { $0.hasPrefix("ok") && $0.contains(" seccomp ") }, "\(run)")
    }

    @Test func policyCheckListsEveryProblemInEveryFile() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let policies = directory + "/policies"
        try FileManager.default.copyItem(atPath: Binaries.repositoryRoot.appendingPathComponent("Policies").path, toPath: policies)
        let good = try await Binaries.sandcastle(["policy", "check", policies])
        #expect(good.status == 0 && good.stdout.hasPrefix("ok"), "\(good)")

        func edit(_ file: String, _ change: (String) -> String) throws {
            let path = policies + "/" + file
            try change(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
        }
        try edit("small.toml") {
            $0.replacingOccurrences(of: #"memory = "256MiB""#, with: #"memory = "lots""#)
                .replacingOccurrences(of: "add = []", with: #"add = ["CAP_FLY"]"#)
        }
        try edit("large.toml") { $0 + "\ncolour = \"blue\"\n" }
        let seccomp = try String(contentsOfFile: policies + "/seccomp/sandbox.json", encoding: .utf8)
        try seccomp.replacingOccurrences(of: #""getpid","#, with: #""frobnicate_now","#)
            .write(toFile: policies + "/seccomp/bad.json", atomically: true, encoding: .utf8)
        let small = try String(contentsOfFile: Binaries.repositoryRoot.appendingPathComponent("Policies/small.toml").path, encoding: .utf8)
        try small.replacingOccurrences(of: "seccomp/sandbox.json", with: "seccomp/bad.json")
            .write(toFile: policies + "/broken.toml", atomically: true, encoding: .utf8)

        let run = try await Binaries.sandcastle(["policy", "check", policies])
        #expect(run.status == 8, "\(run)")
        let problems = run.stdout.split(separator: "\n").filter { $0.hasPrefix("  - ") }
        #expect(problems.contains { $0.contains("small.toml") && $0.contains("memory") && $0.contains("lots") }, "\(run)")
        #expect(problems.contains { $0.contains("small.toml") && $0.contains("CAP_FLY") }, "\(run)")
        #expect(problems.contains { $0.contains("large.toml") && $0.contains("colour") }, "\(run)")
        #expect(problems.contains { $0.contains("bad.json") && $0.contains("frobnicate_now") }, "\(run)")
        #expect(run.stdout.hasPrefix("FAIL: \(policies): \(problems.count) problem(s)"), "\(run)")
    }

    @Test func helpListsExitCodesAndCompletionsAreGenerated() async throws {
        let help = try await Binaries.sandcastle(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("EXIT CODES") && help.stdout.contains("3  the daemon is not reachable"), "\(help)")
        let bash = try await Binaries.sandcastle(["--generate-completion-script", "bash"])
        #expect(bash.status == 0 && bash.stdout.contains("_sandcastle") && bash.stdout.contains("attach"), "\(bash.stderr)")
    }
}

@Suite("CLI pieces")
struct CLIUnitTests {
    @Test func detachKeysSplitOutCtrlPCtrlQ() {
        var keys = DetachKeys()
        #expect(keys.feed(Array("ls\r".utf8)) == (Array("ls\r".utf8), false))
        // Across reads: Ctrl-P held, then Ctrl-Q detaches and nothing is sent.
        #expect(keys.feed([0x61, 0x10]) == ([0x61], false))
        #expect(keys.feed([0x11, 0x62]) == ([], true))
        // Ctrl-P followed by anything else: both go through.
        var other = DetachKeys()
        #expect(other.feed([0x10]) == ([], false))
        #expect(other.feed([0x61]) == ([0x10, 0x61], false))
        #expect(other.feed([0x10, 0x10, 0x11]) == ([0x10], true))
    }

    @Test func addressesParse() throws {
        #expect(try DaemonAddress(parsing: "/run/s.sock") == .unixSocket(path: "/run/s.sock"))
        #expect(try DaemonAddress(parsing: "unix:///run/s.sock") == .unixSocket(path: "/run/s.sock"))
        #expect(try DaemonAddress(parsing: "http://127.0.0.1:8420") == .tcp(host: "127.0.0.1", port: 8420))
        #expect(try DaemonAddress(parsing: "http://[::1]:8420/") == .tcp(host: "::1", port: 8420))
        #expect(throws: SandcastleClientError.self) { try DaemonAddress(parsing: "http://host") }
        #expect(throws: SandcastleClientError.self) { try DaemonAddress(parsing: "https://host:1") }
    }

    @Test func serverSentEventsSplitAcrossChunks() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(.init(string: "retry: 2000\n\n: keep-alive\n\nid: 7\nevent: session.created\nda")).isEmpty)
        let events = parser.feed(.init(string: "ta: {\"id\":7,\"session\":\"s1\",\"time\":\"t\"}\n\n"))
        #expect(events.count == 1)
        #expect(events.first?.id == 7 && events.first?.type == "session.created" && events.first?.session == "s1")
    }

    @Test func tableAlignsColumns() {
        var table = Table(header: ["ID", "STATE"])
        table.rows = [["a-long-id", "running"], ["b", "exited"]]
        #expect(table.rendered == "ID         STATE\na-long-id  running\nb          exited")
    }
}
