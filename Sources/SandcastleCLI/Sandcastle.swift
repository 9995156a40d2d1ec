import ArgumentParser
import Foundation
import SandcastleClient

/// `sandcastle`: the operator's command line for `sandcastled`.
public struct Sandcastle: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sandcastle",
        abstract: "Inspect and operate the sandboxes of a sandcastled daemon.",
        discussion: """
            The daemon is reached on its unix socket (default: the one in its configuration, \
            /run/sandcastle/sandcastled.sock for a system daemon) or over TCP with --url and an API key. \
            As root on the daemon's host no key is needed: the daemon's bootstrap admin key (<state>/admin.key) is used.

            Shell completions: sandcastle --generate-completion-script bash|zsh|fish

            \(ExitStatus.help)
            """,
        version: "0.1.0",
        subcommands: [
            List.self, Inspect.self, Logs.self, ScreenCommand.self, Run.self, Create.self, Attach.self, Exec.self,
            Stop.self, Start.self, Remove.self, Events.self, Token.self, WorkspacesCommand.self, Copy.self, Policy.self,
            Doctor.self, GarbageCollect.self, Backup.self,
        ])

    public init() {}

    /// Parses `arguments`, runs the command, and returns the exit status; messages go to stderr.
    /// ArgumentParser's own usage status (64) becomes ours (2).
    public static func run(arguments: [String]) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as CLIError {
            await Output.error("sandcastle: " + error.message)
            return error.status.rawValue
        } catch let error as SandcastleClientError {
            let reported = CLIError.from(error)
            await Output.error("sandcastle: " + reported.message)
            return reported.status.rawValue
        } catch {
            // ArgumentParser's own: help, version, completion scripts, usage errors, ExitCode.
            let status = exitCode(for: error)
            let message = fullMessage(for: error)
            if status == .success {
                if !message.isEmpty { await Output.line(message) }
                return 0
            }
            if !message.isEmpty { await Output.error(message) }
            return status == .validationFailure ? ExitStatus.usage.rawValue : status.rawValue
        }
    }
}
