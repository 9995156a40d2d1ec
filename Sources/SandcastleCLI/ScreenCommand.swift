import ArgumentParser
import SandcastleClient

/// `sandcastle screen ID`: what the session's terminal shows now, like `tmux capture-pane -p`.
struct ScreenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screen",
        abstract: "Print what a session's terminal shows now (like tmux capture-pane).",
        discussion: """
            Without options, the screen's text, trailing blank rows dropped. --ansi prints the escape \
            sequences that draw it (colours, attributes, cursor, modes) on this terminal; --json the \
            whole snapshot (size, cursor, title, alternate screen, modes).
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Session id.")
    var id: String

    @Flag(name: .long, help: "Print the escape sequences that draw the screen.")
    var ansi = false

    @Flag(name: .long, help: "Print the snapshot as JSON.")
    var json = false

    func validate() throws {
        if ansi && json { throw ValidationError("--ansi and --json exclude each other") }
    }

    func run() async throws {
        let client = try connection.client()
        if ansi {
            await Output.write(try await client.screenRepaint(id))
            return
        }
        let screen = try await client.screen(id)
        await Output.line(json ? try prettyJSON(screen) : screen.text)
    }
}
