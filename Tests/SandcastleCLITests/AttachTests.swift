import Foundation
import SandcastleTestSupport
import Testing

/// `sandcastle attach` driven through a pseudo-terminal: keys in, screen out.
@Suite("sandcastle attach on a pseudo-terminal", .serialized, .requiresEngine)
struct AttachTests {
    @Test func typesSeesDetachesAndTheSessionRunsOn() async throws {
        try await LiveDaemon.with { daemon in
            let id = daemon.tag + "-tty"
            let created = try await daemon.sandcastle(["create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "--", "sh"])
            #expect(created.status == 0, "\(created)")

            // Read-write: what is typed runs; the output comes back to the screen.
            let terminal = try PseudoTerminal(arguments: ["attach", id] + daemon.connection)
            try await terminal.waitForPrompt()
            terminal.type("echo HEL''LO-$((6*7))\r")
            try await terminal.waitFor("HELLO-42")
            // Raw mode: Ctrl-C reaches the session's shell (it interrupts the sleep) instead of
            // killing the CLI.
            // (Sent once the line runs: a Ctrl-C that reached the shell's line editor with the
            // line would wait in the input behind the sleep, not interrupt it.)
            terminal.type("echo SLEEP''ING; sleep 30\r")
            try await terminal.waitFor("SLEEPING")
            terminal.type("\u{03}")
            terminal.type("echo AFTER''-INT\r")
            try await terminal.waitFor("AFTER-INT")
            // A lone Ctrl-P is passed on, not swallowed: the shell sees ^P then the line.
            terminal.type("\u{10}")
            terminal.type("echo STILL''-HERE\r")
            try await terminal.waitFor("STILL-HERE")
            // Ctrl-P Ctrl-Q detaches: the CLI exits 0 and the session keeps running.
            terminal.type("\u{10}\u{11}")
            #expect(try await terminal.waitForExit() == 0, "\(terminal.screen)")
            #expect(terminal.screen.contains("detached from \(id)"))
            let after = try await daemon.sandcastle(["inspect", id])
            #expect(after.stdout.contains(#""state": "running""#), "\(after)")

            // Read-only: the screen shows the session (the scrollback replays), typing is dropped.
            let watcher = try PseudoTerminal(arguments: ["attach", "--read-only", id] + daemon.connection)
            try await watcher.waitFor("HELLO-42")
            watcher.type("echo READ''ONLY-LEAK\r")
            watcher.type("\u{10}\u{11}")
            #expect(try await watcher.waitForExit() == 0, "\(watcher.screen)")

            // A new read-write attach: what it types runs, and nothing the read-only viewer typed did.
            let again = try PseudoTerminal(arguments: ["attach", id] + daemon.connection)
            again.type("echo BACK''-AGAIN\r")
            try await again.waitFor("BACK-AGAIN")
            #expect(!again.screen.contains("READONLY-LEAK") && !again.screen.contains("READ''ONLY"), "\(again.screen)")
            // The session ending ends the attach: exit 0 and a line saying how it ended.
            again.type("exit 3\r")
            #expect(try await again.waitForExit() == 0, "\(again.screen)")
            try await again.waitFor("exit 3")
        }
    }

    @Test func theWindowSizeFollowsTheTerminal() async throws {
        try await LiveDaemon.with { daemon in
            let id = daemon.tag + "-size"
            #expect(try await daemon.sandcastle(["create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "--", "sh"]).status == 0)
            // setsid --ctty: the pseudo-terminal becomes the CLI's controlling terminal, so the
            // kernel sends it SIGWINCH when the size changes, as a terminal emulator's does.
            let terminal = try PseudoTerminal(
                arguments: ["attach", id] + daemon.connection, cols: 100, rows: 30, launcher: "/usr/bin/setsid", launcherArguments: ["--ctty", "--wait"])
            try await terminal.waitForPrompt()
            // The size is sent at attach, and again on every SIGWINCH.
            try await terminal.retype("stty size", until: "30 100")
            terminal.resize(cols: 132, rows: 50)
            try await terminal.retype("stty size", until: "50 132")
            terminal.resize(cols: 90, rows: 20)
            try await terminal.retype("stty size", until: "20 90")
            terminal.type("\u{10}\u{11}")
            #expect(try await terminal.waitForExit() == 0)
        }
    }

    @Test func runCreatesAndAttaches() async throws {
        try await LiveDaemon.with { daemon in
            let id = daemon.tag + "-run"
            let terminal = try PseudoTerminal(
                arguments: ["run", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id] + daemon.connection + ["--", "sh"])
            try await terminal.waitForPrompt()
            terminal.type("echo RUN''-OK; exit 0\r")
            try await terminal.waitFor("RUN-OK")
            #expect(try await terminal.waitForExit() == 0, "\(terminal.screen)")
            #expect(try await daemon.sandcastle(["inspect", id]).stdout.contains(#""state": "exited""#))
        }
    }
}
