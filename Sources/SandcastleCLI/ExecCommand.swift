import ArgumentParser
import Foundation
import SandcastleClient

#if canImport(Glibc)
import Glibc
#endif

/// `sandcastle exec [-i] [-t] ID -- cmd args`, the way `docker exec` behaves: the command's
/// stdout and stderr go to this process's, its exit code becomes this process's.
struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a running session.",
        discussion: """
            The command runs as the session's user in /workspace with the session's environment. \
            Its exit code is this command's exit code (137 when --timeout killed it); errors of \
            sandcastle itself use the codes below.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: [.customShort("i"), .long], help: "Keep stdin open and send it to the command.")
    var interactive = false

    @Flag(name: [.customShort("t"), .long], help: "Give the command a terminal (raw mode here when stdin is one).")
    var tty = false

    @Option(name: [.customShort("e"), .long], help: ArgumentHelp("Environment variable NAME=VALUE (repeatable).", valueName: "var"))
    var env: [String] = []

    @Option(name: .long, help: ArgumentHelp("Kill the command after this many seconds.", valueName: "seconds"))
    var timeout: Double?

    @Argument(help: "Session id.")
    var id: String

    @Argument(parsing: .captureForPassthrough, help: "The command, after --, e.g. -- ls -la.")
    var command: [String] = []

    func run() async throws {
        let command = self.command.first == "--" ? Array(self.command.dropFirst()) : self.command
        guard !command.isEmpty else { throw CLIError(.usage, "name the command after the session id, e.g. sandcastle exec \(id) -- ls") }
        var start: [String: any Sendable] = ["command": command, "tty": tty, "stdin": interactive]
        if !env.isEmpty { start["env"] = env }
        if let timeout { start["timeoutSeconds"] = timeout }
        if tty, let size = RawTerminal.size() {
            start["cols"] = size.cols
            start["rows"] = size.rows
        }
        let client = try connection.client()
        let interactive = self.interactive
        let tty = self.tty
        let code: Int32 = try await client.exec(id, start: start) { messages, writer in
            let terminal = tty && interactive ? RawTerminal() : nil
            defer { terminal?.restore() }
            return try await withThrowingTaskGroup(of: Int32?.self) { group in
                group.addTask {
                    for try await message in messages {
                        switch message {
                        case .started:
                            continue
                        case .stdout(let bytes):
                            await Output.write(bytes)
                        case .stderr(let bytes):
                            await Output.write(bytes, to: STDERR_FILENO)
                        case .exit(let code, let timedOut):
                            if timedOut { await Output.error("sandcastle: the command was killed after its timeout") }
                            return Int32(truncatingIfNeeded: code)
                        case .error(let code, let message):
                            throw CLIError(code == "conflict" ? .conflict : code == "not_found" ? .notFound : .rejected, message)
                        case .closed(let code, let reason):
                            throw CLIError(.failure, "the exec connection closed (\(code.map(String.init) ?? "no code") \(reason))")
                        }
                    }
                    throw CLIError(.failure, "the exec connection closed before the command's exit code arrived")
                }
                if interactive {
                    group.addTask {
                        for await input in LocalInputReader.start(watchWindowSize: terminal != nil) {
                            switch input {
                            case .bytes(let bytes): try await writer.send(stdin: bytes)
                            case .resized:
                                if let size = RawTerminal.size() { try await writer.resize(cols: size.cols, rows: size.rows) }
                            case .endOfInput:
                                try await writer.closeStdin()
                                if terminal == nil { return nil }
                            }
                        }
                        return nil
                    }
                }
                while let next = try await group.next() {
                    if let code = next {
                        group.cancelAll()
                        return code
                    }
                }
                throw CLIError(.failure, "the exec connection ended without an exit code")
            }
        }
        if code != 0 { throw ExitCode(code) }
    }
}
