import Foundation
import NIOCore
import SandboxPolicy
import SandcastleTestSupport
import Testing

/// Real programs through the real relay: bash and full-screen vi and top in a Debian image
/// (`Images/debian/build`), driven over a live server's WebSocket like a browser terminal would.
@Suite("Bash and vi through the relay (Debian image)", .timeLimit(.minutes(3)), .requiresEngine)
struct DebianTerminalTests {
    /// Built by `Images/debian/build`; `scripts/test` exports its tag.
    static var image: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_DEBIAN_IMAGE"] ?? "sandcastle/debian:latest"
    }

    static let escape = "\u{1b}"

    @Test func bashAndVi() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            do {
                _ = try await fixture.manager.client.inspectImage(Self.image)
            } catch {
                throw FixtureError(
                    description: "this test needs the Debian test image \(Self.image): \(error). "
                        + "Build it with Images/debian/build (scripts/test does) and set SANDCASTLE_DEBIAN_IMAGE.")
            }
            let request = SessionLaunchRequest(image: Self.image, profile: "default", workspace: "debian", command: ["bash"])
            _ = try await fixture.manager.manager.create(id: "deb-1", request: request, owner: "t").session
            let token = try TerminalWebSocketTests.token(fixture, session: "deb-1")
            let screen = TerminalWebSocketTests.Transcript()
            let esc = Self.escape
            try await TerminalWebSocketTests.connect(port: port, session: "deb-1", token: token, transcript: screen) { tty in
              do {
                func type(_ keys: String) async throws { try await tty.write(.binary(ByteBuffer(string: keys))) }
                /// Waits for `text` in what the screen shows after `mark` (the output's length then).
                func waitFor(_ what: String, after mark: Int = 0, _ condition: @escaping @Sendable (Substring) -> Bool) async throws {
                    try await screen.waitFor(what) { transcript in
                        let output = transcript.output
                        return condition(output.dropFirst(min(mark, output.count)))
                    }
                }
                try await screen.waitFor("hello") { !$0.controls.isEmpty }
                try await tty.write(.text(#"{"type":"resize","cols":100,"rows":30}"#))

                // bash: its prompt, a command, its output; TERM and terminfo that know the size.
                try await waitFor("the bash prompt") { $0.contains("$ ") }
                var mark = screen.output.count
                try await type(#"echo "term=$TERM bash=${BASH_VERSINFO[0]} size=$(tput cols)x$(tput lines) home=$HOME""# + "\r")
                try await waitFor("bash's answer", after: mark) { $0.contains("term=xterm bash=5 size=100x30 home=/workspace") }

                // vi: full screen on the alternate screen, text typed in, saved into the workspace.
                mark = screen.output.count
                try await type("vi notes.txt\r")
                // 30 rows: the file's line, the status line, and a column of 28 `~` for the lines past its end.
                try await waitFor("vi's screen", after: mark) {
                    $0.contains("\(esc)[?1049h") && $0.contains("notes.txt") && $0.components(separatedBy: "~").count > 20
                }
                try await type("ihello from vi\rsecond line\(esc)")
                try await waitFor("the typed text", after: mark) { $0.contains("second line") }
                try await type(":wq\r")
                try await waitFor("vi leaving the alternate screen", after: mark) { $0.contains("\(esc)[?1049l") }
                mark = screen.output.count
                try await type("cat -A notes.txt; echo done-$((40+2))\r")
                try await waitFor("the saved file", after: mark) { $0.contains("done-42") }
                #expect(String(screen.output.dropFirst(mark)).contains("hello from vi$\r\nsecond line$"))

                // top: a full-screen program that redraws until q.
                mark = screen.output.count
                try await type("top -d 1\r")
                try await waitFor("top's screen", after: mark) { $0.contains("load average") && $0.contains("PID") }
                let topScreen = String(screen.output.dropFirst(mark))
                mark = screen.output.count
                // Keys typed while top runs are top's: wait for bash's prompt before the next command.
                try await type("q")
                try await waitFor("the prompt after top", after: mark) { $0.contains("$ ") }
                try await type("echo top-$((40+2))\r")
                try await waitFor("bash after top", after: mark) { $0.contains("top-42") }
                #expect(topScreen.contains("\(esc)[H"), "top never moved the cursor home: \(topScreen.prefix(300).debugDescription)")
                #expect(topScreen.contains("bash"), "top did not list the session's processes")

                try await type("exit 7\r")
                try await screen.waitFor("the exit frame") { $0.controls.contains { $0["type"] as? String == "exit" } }
              } catch {
                // Close, so that the reader ends too, and say what the screen showed.
                try? await tty.close(.normalClosure, reason: "test failed")
                throw FixtureError(description: "\(error); the screen showed: \(String(screen.output.suffix(2000)).debugDescription)")
              }
            }
            #expect(screen.controls.last?["code"] as? Int == 7)
            #expect(screen.closeCode == 1000)

            // The file vi saved is in the session's workspace on the host.
            let saved = try String(contentsOfFile: fixture.manager.directory + "/workspaces/debian/notes.txt", encoding: .utf8)
            #expect(saved == "hello from vi\nsecond line\n")

            // The relay's engine attach is among the timed engine calls.
            let metrics = try await LiveServerTests.curl(["http://127.0.0.1:\(port)/metrics"], seconds: 5)
            #expect(metrics.contains(#"sandcastle_engine_request_duration_seconds_count{operation="POST /containers/{id}/attach",outcome="ok"}"#))
        }
    }
}
