import Foundation
import NIOCore
import SandboxPolicy
import SandcastleTestSupport
import Testing

/// A viewer that connects late gets the screen of one that stayed connected the whole time, cell
/// for cell, for real full-screen programs in the Debian image: both screens drawn by pyte, an
/// emulator independent of the daemon's libvterm.
@Suite("Reconnecting to vi, top and a cleared shell (Debian image)", .timeLimit(.minutes(5)), .requiresEngine)
struct DebianScreenTests {
    static let columns = 100
    static let rows = 30

    /// A program on the screen, and how to know it is drawn.
    struct Program: Sendable, CustomTestStringConvertible {
        var name: String
        /// Typed at the bash prompt, then more keys typed once `drawn` holds.
        var command: String
        var keys: String
        /// Holds for the output after the command once the program has drawn its screen.
        var drawn: @Sendable (String) -> Bool
        var testDescription: String { name }
    }

    static let programs = [
        // vi on a file: text typed in, then the cursor moved back up into it.
        Program(
            name: "vi", command: "vi notes.txt\r", keys: "ifirst line\rsecond line\r\tthird\u{1b}kkll",
            drawn: { $0.contains("notes.txt") && $0.contains("~") }),
        // top, refreshing every 100 s: the screen holds still while the viewers compare it.
        Program(name: "top", command: "top -d 100\r", keys: "", drawn: { $0.contains("load average") && $0.contains("PID") }),
        // A shell after clear, with colours and the cursor after a prompt.
        Program(
            name: "clear", command: "seq 1 500; clear; printf '\\033[1;31mred\\033[0m \\033[44mblue\\033[0m\\n'\r", keys: "",
            drawn: { $0.contains("\u{1b}[44mblue") }),
    ]

    @Test(arguments: programs)
    func aLateViewerSeesTheScreenOfOneThatStayed(program: Program) async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            let id = "scr-\(program.name)"
            let request = SessionLaunchRequest(image: DebianTerminalTests.image, profile: "default", workspace: "screen", command: ["bash"])
            let session = try await fixture.manager.manager.create(id: id, request: request, owner: "t").session
            let containerID = try #require(session.containerID)
            let token = try TerminalWebSocketTests.token(fixture, session: id)
            let stayed = TerminalWebSocketTests.Transcript()
            let late = TerminalWebSocketTests.Transcript()
            // The viewer that stays: every byte from the first, as written.
            try await TerminalWebSocketTests.connect(port: port, session: id, token: token, query: "?since=0&replay=bytes", transcript: stayed) { tty in
                func type(_ keys: String) async throws { try await tty.write(.binary(ByteBuffer(string: keys))) }
                try await tty.write(.text(#"{"type":"resize","cols":\#(Self.columns),"rows":\#(Self.rows)}"#))
                try await stayed.waitFor("the bash prompt") { $0.output.contains("$ ") }
                let mark = stayed.output.count
                try await type(program.command)
                try await stayed.waitFor("\(program.name)'s screen") { program.drawn(String($0.output.dropFirst(mark))) }
                if !program.keys.isEmpty { try await type(program.keys) }
                try await Task.sleep(for: .seconds(1))

                // 2.2 MB more than the 1 MiB ring holds, written to the terminal by another
                // process: NUL bytes, which every terminal ignores, so the screen stays as it is
                // while the bytes that drew it leave the ring.
                let terminal = try #require(fixture.relay.existingTerminal(session: id))
                let before = terminal.endOffset
                let flood = try await ChildProcess.run(
                    "docker", ["exec", containerID, "sh", "-c", "head -c 2200000 /dev/zero > /proc/1/fd/1"], timeout: .seconds(60))
                #expect(flood.status == 0, "docker exec: \(flood.output)")
                try await eventually("the flood relayed") { terminal.endOffset >= before + 2_200_000 }

                try await TerminalWebSocketTests.connect(port: port, session: id, token: token, transcript: late) { lateTTY in
                    try await late.waitFor("the repaint") { $0.controls.contains { $0["type"] as? String == "reset" } && !$0.output.isEmpty }
                    try await Task.sleep(for: .milliseconds(500))
                    try await lateTTY.close(.normalClosure, reason: "done")
                }
                try await stayed.waitFor("the flood") { UInt64($0.output.utf8.count) >= before + 2_200_000 }
                try await tty.close(.normalClosure, reason: "done")
            }
            #expect(!stayed.controls.contains { $0["type"] as? String == "reset" }, "the viewer that stayed fell behind")
            let expected = try await PyteScreen.render(Array(stayed.output.utf8), columns: Self.columns, rows: Self.rows)
            let rebuilt = try await PyteScreen.render(Array(late.output.utf8), columns: Self.columns, rows: Self.rows)
            #expect(rebuilt == expected, "\(rebuilt.differences(from: expected))\nexpected:\n\(expected)\nrebuilt:\n\(rebuilt)")
            // Not a blank screen that happens to match.
            #expect(expected.lines.contains { !$0.isEmpty })
            // The late viewer got a reset, whose offset is past the ring's start.
            let reset = try #require(late.controls.first { $0["type"] as? String == "reset" })
            #expect((reset["offset"] as? Int ?? 0) > 2_200_000)
        }
    }
}
