import DockerEngine
import Foundation
import SandcastleTestSupport
import Testing

/// The real `sandcastle` binary against a real `sandcastled` process and the engine.
@Suite("sandcastle against a live daemon", .serialized, .requiresEngine)
struct CLIAgainstDaemonTests {
    @Test func sessionsFromCreateToRemove() async throws {
        try await LiveDaemon.with { daemon in
            let id = daemon.tag + "-one"
            let created = try await daemon.sandcastle([
                "create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "-l", "team=blue", "-e", "SECRET=hidden",
                "--", "sh", "-c", "echo hello-from-\(daemon.tag); sleep 600",
            ])
            #expect(created.status == 0, "\(created)")
            #expect(created.stdout == id + "\n")

            // ls: the table, filters, JSON.
            let listed = try await daemon.sandcastle(["ls"])
            #expect(listed.status == 0, "\(listed)")
            let header = try #require(listed.stdout.split(separator: "\n").first)
            #expect(header.hasPrefix("ID") && header.contains("STATE") && header.contains("IMAGE"))
            let row = try #require(listed.stdout.split(separator: "\n").first { $0.hasPrefix(id) })
            #expect(row.contains("running") && row.contains(Binaries.testImage))
            #expect(try await daemon.sandcastle(["ls", "--label", "team=blue", "-q"]).stdout == id + "\n")
            #expect(try await daemon.sandcastle(["ls", "--label", "team=red", "-q"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(try await daemon.sandcastle(["ls", "--state", "exited", "-q"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            let json = try await daemon.sandcastle(["ls", "--json"])
            let sessions = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
            #expect(sessions.count == 1 && sessions.first?["id"] as? String == id && sessions.first?["state"] as? String == "running")

            // inspect: the session in full, env values never shown.
            let inspected = try await daemon.sandcastle(["inspect", id])
            #expect(inspected.status == 0, "\(inspected)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
            #expect(object["workspace"] as? String == daemon.tag)
            #expect((object["labels"] as? [String: String])?["team"] == "blue")
            #expect(!inspected.stdout.contains("hidden"))

            // workspaces: like docker system df; this host enforces no limits.
            let workspaces = try await daemon.sandcastle(["workspaces"])
            #expect(workspaces.status == 0, "\(workspaces)")
            #expect(workspaces.stdout.hasPrefix("WORKSPACE") && workspaces.stdout.contains("USE%"), "\(workspaces)")
            let workspaceRow = try #require(workspaces.stdout.split(separator: "\n").first { $0.hasPrefix(daemon.tag + " ") }, "\(workspaces)")
            #expect(workspaceRow.contains("none"), "\(workspaces)")
            #expect(workspaces.stdout.split(separator: "\n").last?.hasPrefix("TOTAL") == true, "\(workspaces)")

            // logs: the terminal's output.
            var logged = CLIRun(status: -1, stdout: "", stderr: "")
            for _ in 0..<100 {
                logged = try await daemon.sandcastle(["logs", id])
                if logged.stdout.contains("hello-from-\(daemon.tag)") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(logged.status == 0 && logged.stdout.contains("hello-from-\(daemon.tag)"), "\(logged)")

            // token: a read-only token, as JSON.
            let token = try await daemon.sandcastle(["token", id, "--read-only", "--ttl", "30", "--json"])
            #expect(token.status == 0, "\(token)")
            #expect(token.stdout.contains(#""role": "ro""#) && token.stdout.contains(#""token": "#))

            // stop, then the exit shows in ls -a; a token for a stopped session is a conflict (6).
            let stopped = try await daemon.sandcastle(["stop", id])
            #expect(stopped.status == 0 && stopped.stdout == "\(id)\texited\n", "\(stopped)")
            let started = try await daemon.sandcastle(["start", id])
            #expect(started.status == 0 && started.stdout == "\(id)\trunning\n", "\(started)")
            #expect(try await daemon.sandcastle(["stop", id]).status == 0)
            let all = try await daemon.sandcastle(["ls", "-a"])
            #expect(all.stdout.split(separator: "\n").contains { $0.hasPrefix(id) && $0.contains("exit ") }, "\(all)")
            #expect(try await daemon.sandcastle(["ls", "-q"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            let conflict = try await daemon.sandcastle(["token", id])
            #expect(conflict.status == 6, "\(conflict)")

            // events: the history, then rm, then not found (4).
            let events = try await daemon.sandcastle(["events", "--session", id])
            #expect(events.status == 0, "\(events)")
            let types = events.stdout.split(separator: "\n").map { $0.split(separator: "\t")[2] }
            #expect(types.contains("session.created") && types.contains("session.started") && types.contains("session.stopped"), "\(events)")
            let removed = try await daemon.sandcastle(["rm", id])
            #expect(removed.status == 0, "\(removed)")
            // A removed session stays on record as removed, out of ls -a.
            let gone = try await daemon.sandcastle(["inspect", id])
            #expect(gone.status == 0 && gone.stdout.contains(#""state": "removed""#), "\(gone)")
            #expect(!(try await daemon.sandcastle(["ls", "-a"]).stdout.contains(id)))
            #expect(try await daemon.sandcastle(["ls", "--state", "removed", "-q"]).stdout == id + "\n")
            let jsonEvents = try await daemon.sandcastle(["events", "--session", id, "--json"])
            #expect(jsonEvents.stdout.split(separator: "\n").last?.contains(#""type":"session.removed""#) == true, "\(jsonEvents)")
        }
    }

    @Test func exitCodesScriptsRelyOn() async throws {
        try await LiveDaemon.with { daemon in
            // 2: usage.
            #expect(try await daemon.sandcastle(["ls", "--no-such-flag"]).status == 2)
            #expect(try await daemon.sandcastle(["inspect"]).status == 2)
            // 4: not found, for each of several commands.
            for command in [["inspect", "nope-\(daemon.tag)"], ["stop", "nope-\(daemon.tag)"], ["rm", "nope-\(daemon.tag)"], ["logs", "nope-\(daemon.tag)"]] {
                let run = try await daemon.sandcastle(command)
                #expect(run.status == 4, "\(command): \(run)")
            }
            // 5: a wrong key.
            let unauthorized = try await daemon.sandcastle(["ls", "--api-key", "sc_wrong"])
            #expect(unauthorized.status == 5, "\(unauthorized)")
            #expect(unauthorized.stderr.contains("--api-key"))
            // 7: refused by policy (a privileged-looking image outside the allowlist).
            let rejected = try await daemon.sandcastle(["create", "--image", "debian:12", "-w", daemon.tag, "--", "sh"])
            #expect(rejected.status == 7, "\(rejected)")
            // The key from a file works like the bootstrap key.
            let keyFile = daemon.directory + "/key"
            try FileManager.default.copyItem(atPath: daemon.directory + "/state/admin.key", toPath: keyFile)
            #expect(try await Binaries.sandcastle(["ls", "--socket", daemon.socket, "--api-key-file", keyFile]).status == 0)
            #expect(try await Binaries.sandcastle(["ls"], environment: ["SANDCASTLE_SOCKET": daemon.socket, "SANDCASTLE_API_KEY_FILE": keyFile]).status == 0)
        }
    }

    @Test func overTCPWithAnAPIKey() async throws {
        try await LiveDaemon.with(tcp: true) { daemon in
            let url = "http://127.0.0.1:\(try #require(daemon.tcpPort))"
            let key = try String(contentsOfFile: daemon.directory + "/state/admin.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // No key over TCP: the bootstrap key is only read for the local socket.
            let keyless = try await Binaries.sandcastle(["ls", "--url", url, "--config", daemon.configFile])
            #expect(keyless.status == 5, "\(keyless)")
            let id = daemon.tag + "-tcp"
            let created = try await Binaries.sandcastle(
                ["create", "--url", url, "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "--", "sh"],
                environment: ["SANDCASTLE_API_KEY": key])
            #expect(created.status == 0, "\(created)")
            let listed = try await Binaries.sandcastle(["ls", "-q"], environment: ["SANDCASTLE_URL": url, "SANDCASTLE_API_KEY": key])
            #expect(listed.status == 0 && listed.stdout == id + "\n", "\(listed)")
            // The terminal over TCP too.
            let terminal = try PseudoTerminal(arguments: ["attach", id, "--url", url, "--api-key", key])
            try await terminal.waitForPrompt()
            terminal.type("echo OVER''-TCP\r")
            try await terminal.waitFor("OVER-TCP")
            terminal.type("\u{10}\u{11}")
            #expect(try await terminal.waitForExit() == 0)
        }
    }

    /// `sandcastle screen` for a session that drew something, one that never printed, and one
    /// that has exited (rebuilt from its log).
    @Test func screensOfRunningSilentAndExitedSessions() async throws {
        try await LiveDaemon.with { daemon in
            let drawn = daemon.tag + "-drawn"
            let silent = daemon.tag + "-silent"
            let ended = daemon.tag + "-ended"
            for (id, command) in [
                (drawn, "printf '\\033]2;my title\\007\\033[2J\\033[5;3H\\033[1;31mhere'; sleep 600"),
                (silent, "sleep 600"),
                (ended, "echo bye-\(daemon.tag)"),
            ] {
                let created = try await daemon.sandcastle(["create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "--", "sh", "-c", command])
                #expect(created.status == 0, "\(created)")
            }
            var text = CLIRun(status: -1, stdout: "", stderr: "")
            for _ in 0..<100 {
                text = try await daemon.sandcastle(["screen", drawn])
                if text.stdout.contains("here") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(text.status == 0 && text.stdout == "\n\n\n\n  here\n", "\(text)")
            let json = try await daemon.sandcastle(["screen", "--json", drawn])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect(object["source"] as? String == "terminal" && object["title"] as? String == "my title")
            let cursor = try #require(object["cursor"] as? [String: Any])
            #expect(cursor["row"] as? Int == 4 && cursor["column"] as? Int == 6)
            let ansi = try await daemon.sandcastle(["screen", "--ansi", drawn])
            #expect(ansi.status == 0 && ansi.stdout.hasPrefix("\u{1b}c") && ansi.stdout.contains("\u{1b}[0;1;31mhere"), "\(ansi)")

            let blank = try await daemon.sandcastle(["screen", "--json", silent])
            let blankObject = try #require(try JSONSerialization.jsonObject(with: Data(blank.stdout.utf8)) as? [String: Any], "\(blank)")
            #expect((blankObject["rows"] as? [String])?.allSatisfy(\.isEmpty) == true && (blankObject["rows"] as? [String])?.count == 24)

            var exited = CLIRun(status: -1, stdout: "", stderr: "")
            for _ in 0..<100 {
                exited = try await daemon.sandcastle(["screen", "--json", ended])
                if exited.stdout.contains("\"log\"") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(exited.status == 0 && exited.stdout.contains("bye-\(daemon.tag)") && exited.stdout.contains(#""source": "log""#), "\(exited)")
            #expect(try await daemon.sandcastle(["screen", "nope-\(daemon.tag)"]).status != 0)
        }
    }

    @Test func followsEventsAndLogs() async throws {
        try await LiveDaemon.with { daemon in
            let id = daemon.tag + "-follow"
            // `events -f` runs until killed, so the harness reads its output as it comes through a
            // pseudo-terminal. From the first event on (`--since 0`: however late it connects, it
            // misses nothing of this daemon's).
            let follower = try PseudoTerminal(arguments: ["events", "-f", "--since", "0"] + daemon.connection)
            let created = try await daemon.sandcastle([
                "create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "--", "sh", "-c", "echo one; sleep 1; echo two-\(daemon.tag)",
            ])
            #expect(created.status == 0, "\(created)")
            try await follower.waitFor("session.created")
            try await follower.waitFor("session.exited")
            // `logs -f` on a session that ended prints its log and returns.
            let logs = try await daemon.sandcastle(["logs", "-f", id])
            #expect(logs.status == 0 && logs.stdout.contains("two-\(daemon.tag)"), "\(logs)")
            // The follower has printed, so it is connected: this event comes through the follow.
            #expect(try await daemon.sandcastle(["rm", id]).status == 0)
            try await follower.waitFor("session.removed")
        }
    }

    @Test func garbageCollectionAndBackup() async throws {
        try await LiveDaemon.with { daemon in
            // A container labelled as this daemon's, for a session it never had: an orphan.
            let engine = try await DockerClient.connect(.fromEnvironment())
            let config = ContainerConfig(
                user: "1000:1000", cmd: ["sleep", "600"], image: Binaries.testImage,
                labels: [
                    "dev.sandcastle.managed": "true", "dev.sandcastle.instance": daemon.instance,
                    "dev.sandcastle.session": "ghost-\(daemon.tag)",
                ],
                networkDisabled: true, hostConfig: HostConfig(capDrop: ["ALL"], networkMode: "none"))
            let orphan = try await engine.createContainer(name: "sandcastle-ghost-\(daemon.tag)", config: config)
            let dry = try await daemon.sandcastle(["gc", "--dry-run"])
            #expect(dry.status == 0 && dry.stdout.contains("ghost-\(daemon.tag)") && dry.stdout.contains("WOULD REMOVE"), "\(dry)")
            #expect(try await engine.inspectContainer(orphan.id).id == orphan.id)
            let collected = try await daemon.sandcastle(["gc", "--json"])
            #expect(collected.status == 0 && collected.stdout.contains(orphan.id), "\(collected)")
            await #expect(throws: DockerError.self) { try await engine.inspectContainer(orphan.id) }
            #expect(try await daemon.sandcastle(["gc"]).stdout.contains("no orphaned containers"))

            // backup: a SQLite database file with the sessions in it.
            let file = daemon.directory + "/backup.db"
            let backup = try await daemon.sandcastle(["backup", file])
            #expect(backup.status == 0, "\(backup)")
            let header = try Data(contentsOf: URL(fileURLWithPath: file)).prefix(16)
            #expect(header == Data("SQLite format 3\0".utf8))
            #expect(try await daemon.sandcastle(["backup", file]).status == 2)  // exists; --force replaces
            #expect(try await daemon.sandcastle(["backup", file, "--force"]).status == 0)
        }
    }
}
