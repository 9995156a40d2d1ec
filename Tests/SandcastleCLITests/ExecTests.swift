import Foundation
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `POST /v1/sessions/{id}/exec`, its WebSocket and `sandcastle exec`, through a real
/// `sandcastled` and the engine.
@Suite("exec in a live session", .serialized, .requiresEngine)
struct ExecTests {
    /// Creates a running session that sleeps; returns its id.
    static func session(_ daemon: LiveDaemon, _ name: String) async throws -> String {
        let id = daemon.tag + "-" + name
        let created = try await daemon.sandcastle([
            "create", "--image", Binaries.testImage, "-w", daemon.tag, "--id", id, "-e", "FROM_SESSION=yes", "--", "sleep", "600",
        ])
        #expect(created.status == 0, "\(created)")
        return id
    }

    /// `POST /v1/sessions/{id}/exec` with `body`; the answer as JSON and the HTTP status.
    static func exec(_ daemon: LiveDaemon, _ id: String, _ body: String) async throws -> (status: Int, object: [String: Any]) {
        let output = try await daemon.daemon.curl([
            "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "-d", body, "http://x/v1/sessions/\(id)/exec",
        ])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? -1
        let json = lines.dropLast().joined(separator: "\n")
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
        return (status, object)
    }

    static func field(_ text: String, _ name: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    @Test func jsonModeKeepsStreamsApartWithExitCodeStdinUidAndNoPrivileges() async throws {
        try await LiveDaemon.with { daemon in
            let id = try await Self.session(daemon, "json")

            let split = try await Self.exec(daemon, id, #"{"command":["sh","-c","echo out; echo err >&2; exit 3"]}"#)
            #expect(split.status == 200, "\(split)")
            #expect(split.object["exitCode"] as? Int == 3)
            #expect(split.object["stdout"] as? String == "out\n")
            #expect(split.object["stderr"] as? String == "err\n")
            #expect(split.object["timedOut"] as? Bool == false)

            let stdin = try await Self.exec(daemon, id, #"{"command":["tr","a-z","A-Z"],"stdin":"hello\n"}"#)
            #expect(stdin.object["stdout"] as? String == "HELLO\n", "\(stdin)")
            let bytes = try await Self.exec(daemon, id, #"{"command":["cat"],"stdinBase64":"AAEC/w==","encoding":"base64"}"#)
            #expect(bytes.object["stdout"] as? String == "AAEC/w==", "\(bytes)")

            // The session's uid (that of its own process, pid 1), its environment, /workspace.
            let who = try await Self.exec(
                daemon, id, #"{"command":["sh","-c","id -u; stat -c %u /proc/1; pwd; echo $FROM_SESSION $EXTRA"],"env":["EXTRA=added"]}"#)
            let lines = (who.object["stdout"] as? String ?? "").split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "\(who)")
            if lines.count == 4 {
                #expect(lines[0] == lines[1] && lines[0] != "0", "\(lines)")
                #expect(lines[2] == "/workspace")
                #expect(lines[3] == "yes added")
            }

            // No capabilities and no way to gain any; the bounding set no wider than the session's own.
            let status = try await Self.exec(daemon, id, #"{"command":["sh","-c","cat /proc/self/status; echo ==; cat /proc/1/status"]}"#)
            let parts = (status.object["stdout"] as? String ?? "").components(separatedBy: "==\n")
            #expect(parts.count == 2, "\(status)")
            if parts.count == 2 {
                for name in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
                    #expect(Self.field(parts[0], name) == "0000000000000000", "\(name): \(parts[0])")
                }
                #expect(Self.field(parts[0], "NoNewPrivs") == "1")
                #expect(Self.field(parts[0], "CapBnd") == Self.field(parts[1], "CapBnd"))
                #expect(Self.field(parts[0], "Seccomp") == "2")
            }

            // Output over the cap is counted and flagged, not kept.
            let big = try await Self.exec(daemon, id, #"{"command":["sh","-c","head -c 5000 /dev/zero"],"maxOutputBytes":100}"#)
            #expect(big.object["stdoutBytes"] as? Int == 5000 && big.object["stdoutTruncated"] as? Bool == true, "\(big)")
            #expect((big.object["stdout"] as? String)?.utf8.count == 100)

            // Bad requests are refused with the reason.
            let empty = try await Self.exec(daemon, id, #"{"command":[]}"#)
            #expect(empty.status == 400 && "\(empty.object)".contains("command"), "\(empty)")
            let unknown = try await Self.exec(daemon, id, #"{"command":["true"],"user":"root"}"#)
            #expect(unknown.status == 400 && "\(unknown.object)".contains("user"), "\(unknown)")
            let tty = try await Self.exec(daemon, id, #"{"command":["true"],"tty":true}"#)
            #expect(tty.status == 400, "\(tty)")
            let missing = try await Self.exec(daemon, id + "x", #"{"command":["true"]}"#)
            #expect(missing.status == 404, "\(missing)")

            // The events, with the exit code; never the arguments.
            let events = try await daemon.daemon.curl(["http://x/v1/events?session=\(id)&follow=false"])
            #expect(events.contains("exec.started") && events.contains("exec.exited") && events.contains(#""exitCode":3"#), "\(events)")
            #expect(!events.contains("echo out"))

            // Not running: 409.
            #expect(try await daemon.sandcastle(["stop", id]).status == 0)
            let stopped = try await Self.exec(daemon, id, #"{"command":["true"]}"#)
            #expect(stopped.status == 409, "\(stopped)")
        }
    }

    /// Lines of `/proc/*/cmdline` inside the session (the test image has no ps).
    static func processes(_ daemon: LiveDaemon, _ id: String) async throws -> String {
        let listed = try await exec(daemon, id, #"{"command":["sh","-c","for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"]}"#)
        return listed.object["stdout"] as? String ?? ""
    }

    @Test func timeoutKillsTheProcessAndItsChildren() async throws {
        try await LiveDaemon.with { daemon in
            let id = try await Self.session(daemon, "timeout")
            let killed = try await Self.exec(daemon, id, #"{"command":["sh","-c","sleep 4242 & sleep 4343; echo never"],"timeoutSeconds":1}"#)
            #expect(killed.status == 200, "\(killed)")
            #expect(killed.object["exitCode"] as? Int == 137 && killed.object["timedOut"] as? Bool == true, "\(killed)")
            #expect(killed.object["stdout"] as? String == "")
            let left = try await Self.processes(daemon, id)
            #expect(!left.contains("4242") && !left.contains("4343"), "\(left)")
            #expect(left.contains("sleep 600"), "the session's own process is untouched: \(left)")
        }
    }

    @Test func concurrentExecsAreLimitedPerSession() async throws {
        try await LiveDaemon.with { daemon in
            let id = try await Self.session(daemon, "limit")
            let other = try await Self.session(daemon, "other")
            // The four held execs end when the test writes `release` into the workspace, not after
            // a time: a slow host must not free a slot before the fifth exec is refused.
            let release = daemon.directory + "/workspaces/" + daemon.tag + "/release"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let held = try await Self.exec(
                            daemon, id, #"{"command":["sh","-c","until [ -e release ]; do sleep 0.05; done"],"timeoutSeconds":120}"#)
                        #expect(held.status == 200 && held.object["exitCode"] as? Int == 0, "\(held)")
                    }
                }
                try await eventually("four execs to start") {
                    let events = try await daemon.daemon.curl(["http://x/v1/events?session=\(id)&follow=false"])
                    return events.components(separatedBy: #""type":"exec.started""#).count - 1 == 4
                }
                let refused = try await Self.exec(daemon, id, #"{"command":["true"]}"#)
                #expect(refused.status == 429 && "\(refused.object)".contains("too_many_execs"), "\(refused)")
                // The limit is per session.
                let elsewhere = try await Self.exec(daemon, other, #"{"command":["true"]}"#)
                #expect(elsewhere.status == 200, "\(elsewhere)")
                try Data().write(to: URL(fileURLWithPath: release))
                try await group.waitForAll()
            }
            let after = try await Self.exec(daemon, id, #"{"command":["true"]}"#)
            #expect(after.status == 200 && after.object["exitCode"] as? Int == 0, "\(after)")
        }
    }

    @Test func cliBehavesLikeDockerExec() async throws {
        try await LiveDaemon.with { daemon in
            let id = try await Self.session(daemon, "cli")
            let split = try await daemon.sandcastle(["exec", id, "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
            #expect(split.status == 3 && split.stdout == "out\n" && split.stderr == "err\n", "\(split)")
            let ok = try await daemon.sandcastle(["exec", id, "--", "true"])
            #expect(ok.status == 0 && ok.stdout.isEmpty, "\(ok)")
            let piped = try await daemon.sandcastle(["exec", "-i", id, "--", "tr", "a-z", "A-Z"], input: "hello\nworld\n")
            #expect(piped.status == 0 && piped.stdout == "HELLO\nWORLD\n", "\(piped)")
            let noStdin = try await daemon.sandcastle(["exec", id, "--", "cat"], input: "ignored")
            #expect(noStdin.status == 0 && noStdin.stdout.isEmpty, "\(noStdin)")
            let tty = try await daemon.sandcastle(["exec", "-t", id, "--", "sh", "-c", "tty; test -t 1"])
            #expect(tty.status == 0 && tty.stdout.hasPrefix("/dev/pts/"), "\(tty)")
            let timedOut = try await daemon.sandcastle(["exec", "--timeout", "1", id, "--", "sleep", "60"])
            #expect(timedOut.status == 137, "\(timedOut)")
            let missing = try await daemon.sandcastle(["exec", id, "--", "/no/such/program"])
            #expect(missing.status == 126 || missing.status == 127, "\(missing)")
            let noCommand = try await daemon.sandcastle(["exec", id])
            #expect(noCommand.status == 2, "\(noCommand)")
            #expect(try await daemon.sandcastle(["stop", id]).status == 0)
            let stopped = try await daemon.sandcastle(["exec", id, "--", "true"])
            #expect(stopped.status == 6, "\(stopped)")
        }
    }

    @Test func aClientThatGoesAwayLeavesNoProcess() async throws {
        try await LiveDaemon.with { daemon in
            let id = try await Self.session(daemon, "gone")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try Binaries.path("sandcastle"))
            process.arguments = ["exec"] + daemon.connection + [id, "--", "sh", "-c", "echo started; sleep 4545"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await eventually("the exec to start") { try await Self.processes(daemon, id).contains("4545") }
            kill(process.processIdentifier, SIGKILL)
            try await eventually("the exec to be killed") { !(try await Self.processes(daemon, id).contains("4545")) }
            try await eventually("exec.exited") {
                try await daemon.daemon.curl(["http://x/v1/events?session=\(id)&follow=false"]).contains(#""exitCode":137"#)
            }
        }
    }
}
