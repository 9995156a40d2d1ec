import ArgumentParser
import Foundation
import SandcastleClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach this terminal to a running session.",
        discussion: "Detach with Ctrl-P Ctrl-Q: the session keeps running. The window size follows this terminal.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Session id.")
    var id: String

    @Flag(name: .long, help: "Watch only: what you type is not sent to the session.")
    var readOnly = false

    @Flag(name: .long, help: "Do not draw the current screen first; show only new output.")
    var noReplay = false

    func run() async throws {
        let client = try connection.client()
        try await attachTerminal(client: client, id: id, readOnly: readOnly, replay: !noReplay)
    }
}

/// Session fields `run` and `create` share.
struct LaunchOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Image to run (env: SANDCASTLE_IMAGE).", valueName: "image"))
    var image: String?

    @Option(name: .long, help: ArgumentHelp("Policy profile.", valueName: "name"))
    var profile = "default"

    @Option(name: [.customShort("w"), .long], help: ArgumentHelp("Workspace name under the daemon's workspace root.", valueName: "name"))
    var workspace = "default"

    @Option(name: .long, help: ArgumentHelp("Session id (makes the create idempotent); default: the daemon picks one.", valueName: "id"))
    var id: String?

    @Option(name: [.customShort("e"), .long], help: ArgumentHelp("Environment variable NAME=VALUE (repeatable).", valueName: "var"))
    var env: [String] = []

    @Option(name: [.customShort("l"), .long], help: ArgumentHelp("Label KEY=VALUE (repeatable).", valueName: "label"))
    var label: [String] = []

    @Option(name: .long, help: ArgumentHelp("Stop the session after this many seconds.", valueName: "seconds"))
    var ttl: Int?

    @Option(name: .long, help: ArgumentHelp("Stop the session after this many idle seconds.", valueName: "seconds"))
    var idleTimeout: Int?

    @Argument(parsing: .captureForPassthrough, help: "The command, after --, e.g. -- bash -l (default: the image's).")
    var command: [String] = []

    /// The create's JSON body; with `attachToken`, the daemon answers with a token of that role.
    func body(attachToken: String? = nil) throws -> [UInt8] {
        guard let image = image ?? ProcessInfo.processInfo.environment["SANDCASTLE_IMAGE"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw CLIError(.usage, "name the image with --image (or SANDCASTLE_IMAGE)")
        }
        var object: [String: Any] = ["image": image, "profile": profile, "workspace": workspace]
        let command = self.command.first == "--" ? Array(self.command.dropFirst()) : self.command
        if !command.isEmpty { object["command"] = command }
        if !env.isEmpty { object["env"] = env }
        if !label.isEmpty {
            var labels: [String: String] = [:]
            for entry in label {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else { throw CLIError(.usage, "a label is KEY=VALUE, not \(entry)") }
                labels[parts[0]] = parts[1]
            }
            object["labels"] = labels
        }
        if let id { object["id"] = id }
        if let ttl { object["ttlSeconds"] = ttl }
        if let idleTimeout { object["idleTimeoutSeconds"] = idleTimeout }
        if let attachToken { object["attachToken"] = attachToken }
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create and start a session; print its id.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var launch: LaunchOptions

    @Flag(help: "Print the session as JSON.")
    var json = false

    func run() async throws {
        let (session, _) = try await connection.client().createSession(body: try launch.body())
        await Output.line(json ? try prettyJSON(session) : session.id)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a session and attach this terminal to it (Ctrl-P Ctrl-Q detaches).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var launch: LaunchOptions

    @Flag(name: .shortAndLong, help: "Do not attach: print the session id and return.")
    var detach = false

    func run() async throws {
        let client = try connection.client()
        let (session, _) = try await client.createSession(body: try launch.body(attachToken: detach ? nil : "rw"))
        if detach { return await Output.line(session.id) }
        // The create answered with the token when the session runs: no second request for it.
        let token = session.state == "running" ? session.attachToken : nil
        try await attachTerminal(client: client, id: session.id, readOnly: false, replay: true, token: token)
    }
}

/// Mints a token (unless given one), opens the terminal WebSocket, puts the local terminal in raw
/// mode and relays both ways until the session exits, the connection closes, or Ctrl-P Ctrl-Q
/// detaches.
func attachTerminal(client: SandcastleClient, id: String, readOnly: Bool, replay: Bool, token: AttachToken? = nil) async throws {
    let token = if let token { token } else { try await mintWhenRunning(client: client, id: id, readOnly: readOnly) }
    let outcome: AttachOutcome = try await TerminalConnection.open(
        address: client.address, session: id, token: token.token,
        // The daemon repaints the current screen; without replay, only what comes next.
        since: replay ? nil : UInt64.max, replayBytes: !replay
    ) { messages, writer in
        let terminal = RawTerminal()
        defer { terminal?.restore() }
        // Set before this side closes for a detach: the daemon's answering close (1000) can
        // reach the reader before the input task returns, and must not read as a failure.
        let detaching = DetachFlag()
        return try await withThrowingTaskGroup(of: AttachOutcome?.self) { group in
            group.addTask {
                for try await message in messages {
                    switch message {
                    case .hello:
                        if let size = RawTerminal.size() { try await writer.resize(cols: size.cols, rows: size.rows) }
                    case .reset:
                        continue
                    case .output(let bytes):
                        await Output.write(bytes)
                    case .exit(let code, let reason):
                        return .exited(code: code, reason: reason)
                    case .closed(let code, let reason):
                        return detaching.isSet ? .detached : .closed(code: code, reason: reason)
                    }
                }
                return detaching.isSet ? .detached : .closed(code: nil, reason: "connection lost")
            }
            group.addTask {
                var keys = DetachKeys()
                for await input in LocalInputReader.start(watchWindowSize: terminal != nil) {
                    switch input {
                    case .bytes(let bytes):
                        let (forward, detach) = keys.feed(bytes)
                        if !forward.isEmpty { try await writer.send(input: forward) }
                        if detach {
                            detaching.set()
                            try? await writer.close()
                            return .detached
                        }
                    case .resized:
                        if let size = RawTerminal.size() { try await writer.resize(cols: size.cols, rows: size.rows) }
                    case .endOfInput:
                        // Input ended (a pipe): keep showing output until the session ends.
                        return nil
                    }
                }
                return nil
            }
            while let next = try await group.next() {
                if let outcome = next {
                    group.cancelAll()
                    return outcome
                }
            }
            return .closed(code: nil, reason: "connection lost")
        }
    }
    switch outcome {
    case .detached:
        await Output.error("\r\n[detached from \(id); it keeps running: sandcastle attach \(id)]")
    case .exited(let code, let reason):
        await Output.error("\r\n[session \(id) ended: exit \(code.map(String.init) ?? "?") (\(reason))]")
    case .closed(let code, let reason):
        if code == 1001 {
            throw CLIError(.daemonUnreachable, "the daemon closed the terminal (it is shutting down); the session keeps running")
        }
        throw CLIError(.failure, "the terminal connection closed (\(code.map(String.init) ?? "no code")\(reason.isEmpty ? "" : ": \(reason)"))")
    }
}

/// Whether this side has begun closing the terminal to detach (shared by the attach's two tasks).
final class DetachFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

enum AttachOutcome: Sendable {
    case detached
    case exited(code: Int?, reason: String)
    case closed(code: Int?, reason: String)
}

/// A token for a session that may still be starting: a fresh `run` can be a moment early.
func mintWhenRunning(client: SandcastleClient, id: String, readOnly: Bool) async throws -> AttachToken {
    for attempt in 0..<50 {
        do {
            let token = try await client.mintToken(id, readOnly: readOnly, ttlSeconds: 60)
            if try await client.session(id).state == "running" { return token }
        } catch let error as SandcastleClientError where error.status == 409 && attempt < 49 {
            let session = try await client.session(id)
            if session.state != "creating" && session.state != "starting" { throw error }
        }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw CLIError(.conflict, "session \(id) did not reach running within 10 s")
}
