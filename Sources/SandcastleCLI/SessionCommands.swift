import ArgumentParser
import Foundation
import SandcastleClient

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List sessions.", aliases: ["ps", "list"])

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Only sessions in this state (repeatable): creating, starting, running, stopping, exited, failed.", valueName: "state"))
    var state: [String] = []

    @Option(name: .long, help: ArgumentHelp("Only sessions with this label, KEY or KEY=VALUE.", valueName: "label"))
    var label: String?

    @Flag(name: .shortAndLong, help: "Include exited and failed sessions (default: live ones only; --state removed shows removed ones).")
    var all = false

    @Flag(name: .shortAndLong, help: "Print only session ids.")
    var quiet = false

    @Flag(help: "Print JSON: an array of sessions as the API shows them.")
    var json = false

    func run() async throws {
        let client = try connection.client()
        let live = ["creating", "starting", "running", "stopping"]
        let states = !state.isEmpty ? state : all ? live + ["exited", "failed"] : live
        let sessions = try await client.sessions(states: states, label: label)
        if json { return await Output.line(try prettyJSON(sessions)) }
        if quiet { return await Output.line(sessions.map(\.id).joined(separator: "\n")) }
        var table = Table(header: ["ID", "STATE", "IMAGE", "PROFILE", "WORKSPACE", "CREATED", "STATUS"])
        for session in sessions {
            table.rows.append([
                session.id, session.state, session.image, session.profile, session.workspace, age(since: session.createdAt) + " ago",
                status(session),
            ])
        }
        await Output.line(table.rendered)
    }

    func status(_ session: Session) -> String {
        switch session.state {
        case "exited": "exit \(session.exitCode.map(String.init) ?? "?") (\(session.exitReason ?? "exited"))"
        case "failed": session.error ?? "failed"
        case "running": session.startedAt.map { "up " + age(since: $0) } ?? ""
        default: ""
        }
    }
}

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show sessions in full, as JSON.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var sessions: SessionIDs

    func run() async throws {
        let client = try connection.client()
        var shown: [Session] = []
        for id in sessions.ids { shown.append(try await client.session(id)) }
        await Output.line(try prettyJSON(shown.count == 1 ? AnyEncodable(shown[0]) : AnyEncodable(shown)))
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// One or more session ids.
struct SessionIDs: ParsableArguments {
    @Argument(help: "Session ids.")
    var ids: [String] = []

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("name at least one session") }
    }
}

/// A command that moves each named session to another state and prints `ID<TAB>STATE`.
protocol SessionTransition: AsyncParsableCommand {
    var connection: ConnectionOptions { get }
    var sessions: SessionIDs { get }
    static func apply(_ client: SandcastleClient, _ id: String) async throws -> Session
}

extension SessionTransition {
    func run() async throws {
        let client = try connection.client()
        try await eachSession(sessions.ids) { await Output.line("\($0)\t\(try await Self.apply(client, $0).state)") }
    }
}

struct Stop: SessionTransition {
    static let configuration = CommandConfiguration(abstract: "Stop running sessions (their containers stay until rm).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var sessions: SessionIDs

    static func apply(_ client: SandcastleClient, _ id: String) async throws -> Session { try await client.stop(id) }
}

struct Start: SessionTransition {
    static let configuration = CommandConfiguration(abstract: "Start stopped sessions again.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var sessions: SessionIDs

    static func apply(_ client: SandcastleClient, _ id: String) async throws -> Session { try await client.start(id) }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove sessions: stops them if running and removes their containers.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var sessions: SessionIDs

    @Flag(help: "Delete the session's workspace too (refused while another session uses it).")
    var deleteWorkspace = false

    func run() async throws {
        let client = try connection.client()
        try await eachSession(sessions.ids) { id in
            try await client.remove(id, deleteWorkspace: deleteWorkspace)
            await Output.line(id)
        }
    }
}

/// Runs `body` for every id; reports each failure and exits with the first failure's status once
/// all were tried (as `docker rm a b c` does).
func eachSession(_ ids: [String], _ body: (String) async throws -> Void) async throws {
    var first: CLIError?
    for id in ids {
        do {
            try await body(id)
        } catch {
            let reported = CLIError.from(error)
            if reported.status == .daemonUnreachable { throw reported }
            await Output.error("sandcastle: \(id): \(reported.message)")
            first = first ?? reported
        }
    }
    if let first { throw ExitCode(first.status.rawValue) }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint an attach token for a session's terminal (for a browser or another client).")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Session id.")
    var id: String

    @Flag(name: .long, help: "A read-only token: its viewer's input is dropped.")
    var readOnly = false

    @Option(name: .long, help: ArgumentHelp("Lifetime in seconds (capped by the daemon).", valueName: "seconds"))
    var ttl = 60

    @Flag(help: "Print JSON: token, expiresAt, role.")
    var json = false

    func run() async throws {
        let token = try await connection.client().mintToken(id, readOnly: readOnly, ttlSeconds: ttl)
        await Output.line(json ? try prettyJSON(token) : token.token)
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a session's terminal output.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Session id.")
    var id: String

    @Flag(name: .shortAndLong, help: "Follow a running session's terminal until it exits (read-only; replays the daemon's scrollback first).")
    var follow = false

    @Option(name: .long, help: ArgumentHelp("Only the last N lines (without -f).", valueName: "n"))
    var tail: Int?

    func run() async throws {
        let client = try connection.client()
        if follow {
            let session = try await client.session(id)
            if session.state == "running" {
                let token = try await client.mintToken(id, readOnly: true, ttlSeconds: 60)
                try await TerminalConnection.open(address: client.address, session: id, token: token.token, since: 0, replayBytes: true) { messages, _ in
                    for try await message in messages {
                        switch message {
                        case .output(let bytes): await Output.write(bytes)
                        case .exit, .closed: return
                        case .hello, .reset: continue
                        }
                    }
                }
                return
            }
        }
        try await client.logs(id, tail: tail) { chunk in await Output.write(Array(chunk.readableBytesView)) }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the event log: session.created, started, exited, stopped, removed, oom, pty.attached, pty.detached.")

    @OptionGroup var connection: ConnectionOptions

    @Flag(name: .shortAndLong, help: "Keep printing new events as they happen (from now, or after --since).")
    var follow = false

    @Option(name: .long, help: ArgumentHelp("Only events after this event id.", valueName: "id"))
    var since: Int64?

    @Option(name: .long, help: ArgumentHelp("Only this session's events.", valueName: "id"))
    var session: String?

    @Flag(help: "One JSON object per line, as the API sends them.")
    var json = false

    func run() async throws {
        try await connection.client().events(since: since, session: session, follow: follow) { event in
            if json {
                await Output.line(event.json)
            } else {
                await Output.line("\(event.id)\t\(event.time)\t\(event.type)\t\(event.session ?? "-")")
            }
        }
    }
}
