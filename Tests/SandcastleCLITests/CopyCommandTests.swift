import Foundation
import SandcastleTestSupport
import Testing

/// `sandcastle cp` against a live daemon: files and directories both ways, and tar through pipes.
@Suite("sandcastle cp", .serialized, .timeLimit(.minutes(5)))
struct CopyCommandTests {
    @Test func copiesFilesDirectoriesAndTarStreamsBothWays() async throws {
        try await LiveDaemon.with { daemon in
            let id = daemon.tag + "-cp"
            let created = try await daemon.sandcastle(["create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "--", "sleep", "600"])
            #expect(created.status == 0, "\(created)")
            let local = daemon.directory + "/local"
            try FileManager.default.createDirectory(atPath: local + "/src/sub", withIntermediateDirectories: true)
            try "alpha\n".write(toFile: local + "/src/a.txt", atomically: true, encoding: .utf8)
            try "beta\n".write(toFile: local + "/src/sub/b.txt", atomically: true, encoding: .utf8)
            try "note\n".write(toFile: local + "/note.md", atomically: true, encoding: .utf8)

            // Up: a directory (unpacked into a new directory) and a file into a directory.
            #expect(try await daemon.sandcastle(["cp", local + "/src", "\(id):/proj"]).status == 0)
            #expect(try await daemon.sandcastle(["cp", local + "/note.md", "\(id):/docs/"]).status == 0)
            let workspace = daemon.directory + "/workspaces/" + daemon.tag
            #expect(try String(contentsOfFile: workspace + "/proj/sub/b.txt", encoding: .utf8) == "beta\n")
            #expect(try String(contentsOfFile: workspace + "/docs/note.md", encoding: .utf8) == "note\n")

            // Down: a file, and a directory (by workspace name).
            #expect(try await daemon.sandcastle(["cp", "\(id):/proj/a.txt", local + "/copy.txt"]).status == 0)
            #expect(try String(contentsOfFile: local + "/copy.txt", encoding: .utf8) == "alpha\n")
            #expect(try await daemon.sandcastle(["cp", "@\(daemon.tag):/proj", local + "/down"]).status == 0)
            #expect(try String(contentsOfFile: local + "/down/sub/b.txt", encoding: .utf8) == "beta\n")

            // A tar on stdout piped into another cp reading stdin.
            let sandcastle = try Binaries.path("sandcastle")
            let connection = daemon.connection.joined(separator: " ")
            let piped = try await ChildProcess.run(
                "sh", ["-c", "\(sandcastle) cp \(connection) \(id):/proj - | \(sandcastle) cp \(connection) - \(id):/restored"],
                timeout: .seconds(60))
            #expect(piped.status == 0, "\(piped.output)")
            #expect(try String(contentsOfFile: workspace + "/restored/a.txt", encoding: .utf8) == "alpha\n")

            // Errors say what: a missing remote file, a target that is not empty.
            let missing = try await daemon.sandcastle(["cp", "\(id):/nothing", local + "/x"])
            #expect(missing.status == 4 && missing.stderr.contains("/nothing"), "\(missing)")
            let notEmpty = try await daemon.sandcastle(["cp", local + "/src", "\(id):/proj"])
            #expect(notEmpty.status != 0 && notEmpty.stderr.contains("not empty"), "\(notEmpty)")
        }
    }
}
