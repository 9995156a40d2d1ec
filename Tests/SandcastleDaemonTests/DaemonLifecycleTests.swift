import AccessControl
import DockerEngine
import Foundation
import HTTPTypes
import HostHardening
import HummingbirdWSClient
import Logging
import NIOCore
import SandcastleTestSupport
import Synchronization
import SandcastleBench
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `sandcastled` as an operator runs it: hardened, under a fake systemd (a datagram
/// socket this test binds as `NOTIFY_SOCKET`), stopped with SIGTERM while a viewer is attached,
/// restarted, and reloaded with SIGHUP.
@Suite("sandcastled's lifecycle, hardening and systemd notifications", .serialized, .timeLimit(.minutes(5)), .requiresEngine)
struct DaemonLifecycleTests {
    typealias Daemon = DaemonProcessTests.Daemon

    static func scratch() throws -> String {
        let directory = "/tmp/sc-life-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static var image: String { ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest" }

    static func instance(of directory: String) -> String {
        ((try? String(contentsOfFile: directory + "/state/instance-id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates session `id` (a shell in the test image, workspace `workspace`) and checks it runs.
    static func createSession(_ daemon: Daemon, id: String, workspace: String) async throws {
        let created = try await daemon.curl([
            "-H", "Content-Type: application/json", "-d",
            #"{"id":"\#(id)","image":"\#(image)","profile":"default","workspace":"\#(workspace)","command":["sh"]}"#,
            "http://x/v1/sessions",
        ])
        #expect(created.contains(#""state":"running""#), "\(created)")
    }

    static func token(_ daemon: Daemon, session: String) async throws -> String {
        let answer = try await daemon.curl(["-X", "POST", "-H", "Content-Type: application/json", "-d", #"{"role":"rw","ttlSeconds":120}"#,
                                            "http://x/v1/sessions/\(session)/attach-tokens"])
        let object = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
        return try #require(object?["token"] as? String, "\(answer)")
    }

    /// What a viewer saw.
    final class Viewer: Sendable {
        let state = Mutex<(controls: [String], output: String, close: Int?)>(([], "", nil))
        let readEnded = Mutex(false)
        var output: String { state.withLock { $0.output } }
        var controls: [String] { state.withLock { $0.controls } }
        var closeCode: Int? { state.withLock { $0.close } }
        /// The server's messages ended (its close frame was read, or the connection dropped).
        var ended: Bool { readEnded.withLock { $0 } }
    }

    /// How a SIGTERM went: exit status and time to exit.
    final class StopOutcome: Sendable {
        let state = Mutex<(Int32, Duration)?>(nil)
    }

    /// A viewer of `session` on the daemon's TCP listener; `body` runs with its writer while it reads.
    @discardableResult
    static func view(
        port: Int, session: String, token: String, viewer: Viewer = Viewer(), route: String = "tty",
        subprotocol: String = "sandcastle.tty.v1", ready: @escaping @Sendable (Viewer) -> Bool = { !$0.controls.isEmpty },
        _ body: @escaping @Sendable (WebSocketOutboundWriter) async throws -> Void
    ) async throws -> Viewer {
        let headers: HTTPFields = [.secWebSocketProtocol: "\(subprotocol), bearer.\(token)"]
        let close = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/v1/sessions/\(session)/\(route)", configuration: .init(additionalHeaders: headers),
            logger: Logger(label: "test.ws")
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { viewer.readEnded.withLock { $0 = true } }
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        switch message {
                        case .text(let text): viewer.state.withLock { $0.controls.append(text) }
                        case .binary(let bytes): viewer.state.withLock { $0.output += String(buffer: bytes) }
                        }
                    }
                }
                group.addTask {
                    // A terminal takes input once the viewer is attached: after `hello`.
                    do {
                        try await eventually("ready", timeout: .seconds(30)) { ready(viewer) }
                        try await body(outbound)
                    } catch {
                        try? await outbound.close(.normalClosure, reason: nil)
                        throw error
                    }
                    // Ours to end unless the server already did (a 1001 at shutdown).
                    try? await outbound.close(.normalClosure, reason: nil)
                }
                try await group.waitForAll()
            }
        }
        viewer.state.withLock { $0.close = close.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) } }
        return viewer
    }

    /// The daemon's NIO event-loop threads (NIO names them `NIO-SGLTN-<group>-#<loop>`), counted by
    /// name: a thread that a loop's thread has just created (a dispatch worker, the engine
    /// client's thread) bears its creator's name until it names itself, so at that moment two
    /// threads share one loop's name.
    static func eventLoops(of daemon: Daemon) -> Int {
        Set(
            HostHardening.threads(of: String(daemon.process.processIdentifier)).map(\.name)
                .filter { $0.hasPrefix("NIO-SGLTN-") }
        ).count
    }

    static func withDaemon(
        _ directory: String, api: String = "", policies: String? = nil, tail: String = "",
        origins: [String] = ["https://app.example.com", "ws://127.0.0.1"], arguments: [String] = [],
        environment: [String: String] = [:], _ body: (Daemon) async throws -> Void
    ) async throws {
        let engine = try await DockerClient.connect(.fromEnvironment())
        let daemon = try Daemon(
            directory: directory, api: api, policies: policies, tail: tail, origins: origins, arguments: arguments,
            environment: environment)
        do {
            try await body(daemon)
            if daemon.process.isRunning { _ = await daemon.stop(SIGTERM) }
        } catch {
            _ = await daemon.stop(SIGKILL)
            Issue.record("daemon log: \(daemon.logText)")
            await DaemonProcessTests.cleanUp(engine: engine, instance: instance(of: directory), directory: directory)
            throw error
        }
        await DaemonProcessTests.cleanUp(engine: engine, instance: instance(of: directory), directory: directory)
    }

    // MARK: - hardening

    @Test func theRunningDaemonIsHardenedOnEveryThreadAndStillServes() async throws {
        let directory = try Self.scratch()
        let port = try freeLoopbackPort()
        try await Self.withDaemon(directory, api: #"tcp = "127.0.0.1:\#(port)""#) { daemon in
            try await daemon.waitUntilListening()
            let kept = HostHardening.mask(of: HostHardening.capabilities(for: .init(mounts: false)))
            #expect(kept == 0b1011, "cap_chown, cap_dac_override, cap_fowner")
            let threads = HostHardening.threads(of: String(daemon.process.processIdentifier))
            #expect(threads.count > 4, "NIO, libcurl and the Swift pool run by now: \(threads)")
            #expect(Self.eventLoops(of: daemon) == 1, "[threads] event_loops is one by default")
            // Threads of the daemon's own carry their names, not their creator's (the loop's).
            #expect(threads.contains { $0.name == "sandcastle-curl" }, "\(threads.map(\.name))")
            for thread in threads {
                #expect(thread.seccomp == 2, "\(thread)")
                #expect(thread.noNewPrivileges, "\(thread)")
                #expect(thread.effective == kept && thread.permitted == kept, "\(thread)")
                #expect(thread.bounding == kept, "\(thread)")
                #expect(thread.inheritable == 0 && thread.ambient == 0, "\(thread)")
            }
            try await eventually("the daemon's own check of its threads", timeout: .seconds(10)) {
                daemon.logText.contains("hardening verified on every thread")
            }

            // Everything a session needs still works: files of the sandbox's uid written into the
            // workspace, including a sticky directory, are deleted with it.
            try await Self.createSession(daemon, id: "hard-1", workspace: "hard")
            let token = try await Self.token(daemon, session: "hard-1")
            let viewer = Viewer()
            try await Self.view(port: port, session: "hard-1", token: token, viewer: viewer) { outbound in
                try await outbound.write(
                    .binary(ByteBuffer(string: "mkdir -p /workspace/t && chmod 1777 /workspace/t && echo x > /workspace/t/f && chmod 600 /workspace/t/f && echo DONE-$((6*7))\n")))
                try await eventually("the shell's answer", timeout: .seconds(30)) { viewer.output.contains("DONE-42") }
            }
            #expect(viewer.output.contains("DONE-42"), "\(viewer.output)")
            #expect(viewer.controls.first?.contains(#""hello""#) == true)
            let stopped = try await daemon.curl(["-X", "POST", "http://x/v1/sessions/hard-1/stop"])
            #expect(stopped.contains("hard-1"), "\(stopped)")
            let workspace = directory + "/workspaces/hard"
            #expect(FileManager.default.fileExists(atPath: workspace + "/t/f"))
            let removed = try await daemon.curl(["-X", "DELETE", "-w", "%{http_code}", "http://x/v1/sessions/hard-1?workspace=delete"])
            #expect(removed.hasSuffix("200") || removed.hasSuffix("204"), "\(removed)")
            #expect(!FileManager.default.fileExists(atPath: workspace), "the hardened daemon deletes the sandbox's files")
        }
    }

    /// `--hardening-self-test` runs the start-up hardening of `main`, then tries the calls the
    /// filter denies. Without the filter the same probes answer differently (ESRCH, success), so
    /// EPERM here is the filter's.
    @Test func deniedCallsFailWithEPERMInTheDaemonProcess() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func selfTest(_ extra: [String]) async throws -> [String: (result: Int, errno: Int32)] {
            let daemon = try Daemon(directory: directory, logName: "selftest\(extra.count).log", arguments: ["--hardening-self-test"] + extra)
            let status = await withCheckedContinuation { continuation in
                Thread {
                    daemon.process.waitUntilExit()
                    continuation.resume(returning: daemon.process.terminationStatus)
                }.start()
            }
            #expect(status == 0, "\(daemon.logText)")
            var probes: [String: (result: Int, errno: Int32)] = [:]
            for line in daemon.logText.split(separator: "\n") where line.hasPrefix("probe ") {
                let fields = line.split(separator: " ")
                if fields.count == 4, let result = Int(fields[2]), let code = Int32(fields[3]) { probes[String(fields[1])] = (result, code) }
            }
            if extra.isEmpty {
                #expect(daemon.logText.contains("Seccomp 2"), "\(daemon.logText)")
                #expect(!daemon.logText.contains("Seccomp 0"), "\(daemon.logText)")
                #expect(daemon.logText.contains("kept-mask: b"), "\(daemon.logText)")
            }
            return probes
        }
        let hardened = try await selfTest([])
        for call in ["ptrace", "keyctl", "personality", "setns", "bpf", "kexec_load", "init_module", "swapoff", "userfaultfd"] {
            let probe = try #require(hardened[call], "\(call) was not probed: \(hardened)")
            #expect(probe.result == -1 && probe.errno == EPERM, "\(call): \(probe)")
        }
        let open = try await selfTest(["--no-self-harden"])
        #expect(open["ptrace"]?.errno == ESRCH, "\(String(describing: open["ptrace"]))")
        #expect(open["setns"]?.errno == EBADF)
        #expect(open["personality"].map { $0.result >= 0 } == true)
    }

    // MARK: - systemd

    @Test func tellsSystemdReadyStatusWatchdogAndStopping() async throws {
        let directory = try Self.scratch()
        let listener = try NotifyListener(abstract: true)
        try await Self.withDaemon(directory, environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "2000000"]) { daemon in
            let ready = try await Self.receive(listener, until: { $0.contains("READY=1") })
            // READY only once the API answers.
            #expect(try await daemon.curl(["-f", "http://x/healthz"]).contains("ok"))
            #expect(ready.last?.contains("STATUS=sessions: 0 running") == true, "\(ready)")
            let pings = try await Self.receive(listener, until: { $0 == "WATCHDOG=1" })
            #expect(pings.last == "WATCHDOG=1")
            try await Self.createSession(daemon, id: "notify-1", workspace: "notify")
            let counted = try await Self.receive(listener, until: { $0.contains("STATUS=sessions: 1 running") })
            #expect(!counted.isEmpty)
            let status = await daemon.stop(SIGTERM)
            #expect(status == 0)
            let stopping = try await Self.receive(listener, until: { $0.hasPrefix("STOPPING=1") })
            #expect(stopping.last?.hasPrefix("STOPPING=1") == true)
        }
    }

    /// Datagrams until one satisfies `condition`, read on a thread of its own (recv blocks, up to
    /// 5 s a time, 40 times at most).
    static func receive(_ listener: NotifyListener, until condition: @escaping @Sendable (String) -> Bool) async throws -> [String] {
        let seen: [String] = await withCheckedContinuation { continuation in
            Thread {
                var seen: [String] = []
                for _ in 0..<40 {
                    guard let message = listener.receive() else { continue }
                    seen.append(message)
                    if condition(message) { break }
                }
                continuation.resume(returning: seen)
            }.start()
        }
        guard let last = seen.last, condition(last) else {
            throw DaemonProcessTests.ProcessFailure(description: "no such notification; saw \(seen)")
        }
        return seen
    }

    // MARK: - SIGTERM with a viewer, restart, reconnect

    @Test func sigtermClosesViewersWith1001AndTheRestartReattaches() async throws {
        let directory = try Self.scratch()
        let port = try freeLoopbackPort()
        let engine = try await DockerClient.connect(.fromEnvironment())
        // Two event loops: the viewer's connection and the engine's attach stream may then be
        // carried by different threads, and the relay must work across them.
        try await Self.withDaemon(directory, api: #"tcp = "127.0.0.1:\#(port)""#, tail: "[threads]\nevent_loops = 2\n") { daemon in
            try await daemon.waitUntilListening()
            #expect(Self.eventLoops(of: daemon) == 2)
            try await Self.createSession(daemon, id: "term-1", workspace: "term")
            let token = try await Self.token(daemon, session: "term-1")
            let viewer = Viewer()
            let stop = StopOutcome()
            try await Self.view(port: port, session: "term-1", token: token, viewer: viewer) { outbound in
                try await outbound.write(.binary(ByteBuffer(string: "echo BEFORE-$((1+1))\n")))
                try await eventually("the echo", timeout: .seconds(30)) { viewer.output.contains("BEFORE-2") }
                let start = ContinuousClock.now
                let code = await daemon.stop(SIGTERM)
                let took = ContinuousClock.now - start
                stop.state.withLock { $0 = (code, took) }
                // The daemon has exited; its close frame may still wait in our socket, unread on a
                // busy machine: once read, ours is not sent (else the close would be our 1000).
                try await eventually("the daemon's close frame read", timeout: .seconds(10)) { viewer.ended }
            }
            #expect(viewer.closeCode == 1001, "close code \(String(describing: viewer.closeCode))")
            let (status, took) = try #require(stop.state.withLock { $0 })
            #expect(status == 0, "\(daemon.logText)")
            // Within the unit's TimeoutStopSec (15 s), past which systemd would SIGKILL it.
            #expect(took < .seconds(15), "SIGTERM to exit took \(took)")
            #expect(try await engine.inspectContainer("sandcastle-term-1").state.running, "the session outlives the daemon")

            let restarted = try Daemon(directory: directory, logName: "restarted.log")
            do {
                try await restarted.waitUntilListening()
                let shown = try await restarted.curl(["http://x/v1/sessions/term-1"])
                #expect(shown.contains(#""state":"running""#), "\(shown)")
                let again = try await Self.token(restarted, session: "term-1")
                let reconnected = Viewer()
                try await Self.view(port: port, session: "term-1", token: again, viewer: reconnected) { outbound in
                    try await outbound.write(.binary(ByteBuffer(string: "echo AFTER-$((2+2))\n")))
                    try await eventually("the echo after the restart", timeout: .seconds(30)) { reconnected.output.contains("AFTER-4") }
                }
                #expect(reconnected.controls.first?.contains(#""hello""#) == true, "\(reconnected.controls)")
                #expect(reconnected.closeCode == 1000, "\(String(describing: reconnected.closeCode))")
            } catch {
                _ = await restarted.stop(SIGKILL)
                Issue.record("restarted daemon log: \(restarted.logText)")
                throw error
            }
            #expect(await restarted.stop(SIGTERM) == 0)
        }
    }

    @Test func sigtermEndsACommandInFlightWith1001() async throws {
        let directory = try Self.scratch()
        let port = try freeLoopbackPort()
        try await Self.withDaemon(directory, api: #"tcp = "127.0.0.1:\#(port)""#) { daemon in
            try await daemon.waitUntilListening()
            try await Self.createSession(daemon, id: "exec-1", workspace: "exec")
            let client = Viewer()
            try await Self.view(
                port: port, session: "exec-1", token: daemon.adminKey, viewer: client, route: "exec",
                subprotocol: "sandcastle.exec.v1", ready: { _ in true }
            ) { outbound in
                try await outbound.write(.text(#"{"type":"start","command":["sh","-c","echo STARTED; exec sleep 600"]}"#))
                try await eventually("the command's output", timeout: .seconds(30)) { client.output.contains("STARTED") }
                #expect(await daemon.stop(SIGTERM) == 0, "\(daemon.logText)")
                try await eventually("the daemon's close frame read", timeout: .seconds(10)) { client.ended }
            }
            #expect(client.closeCode == 1001, "close code \(String(describing: client.closeCode))")
            #expect(client.controls.last?.contains(#""code":"shutting_down""#) == true, "\(client.controls)")
        }
    }

    // MARK: - SIGHUP

    @Test func sighupReloadsPoliciesAndKeysAndKeepsTheOldPolicyWhenTheNewOneIsInvalid() async throws {
        let directory = try Self.scratch()
        let policies = directory + "/policies"
        try FileManager.default.copyItem(
            atPath: Daemon.repositoryRoot.appendingPathComponent("Policies").path, toPath: policies)
        try await Self.withDaemon(directory, policies: policies) { daemon in
            try await daemon.waitUntilListening()
            let admin = daemon.adminKey
            func create(_ id: String, profile: String, key: String? = nil) async throws -> String {
                try await DaemonProcessTests.runCurl(
                    ["--unix-socket", daemon.socket, "-H", "Authorization: Bearer \(key ?? admin)", "-H", "Content-Type: application/json",
                     "-d", #"{"id":"\#(id)","image":"\#(Self.image)","profile":"\#(profile)","workspace":"\#(id)","command":["sh"]}"#,
                     "http://x/v1/sessions"], seconds: 30)
            }
            func status(key: String) async throws -> String {
                try await DaemonProcessTests.runCurl(
                    ["--unix-socket", daemon.socket, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(key)",
                     "http://x/v1/sessions"], seconds: 30)
            }
            let refused = try await create("hup-0", profile: "extra")
            #expect(!refused.contains(#""state":"running""#), "no profile 'extra' yet: \(refused)")
            let newKey = "sc_reload_test_key_\(UUID().uuidString)"
            #expect(try await status(key: newKey) == "401")

            // A new profile and a new key (beside the admin key), then SIGHUP.
            try FileManager.default.copyItem(atPath: policies + "/small.toml", toPath: policies + "/extra.toml")
            let config = try String(contentsOfFile: directory + "/sandcastled.toml", encoding: .utf8) + """

                [auth]
                [[auth.keys]]
                name = "admin"
                sha256 = "\(APIKeyring.sha256Hex(of: admin))"
                role = "admin"
                [[auth.keys]]
                name = "reloaded"
                sha256 = "\(APIKeyring.sha256Hex(of: newKey))"
                role = "developer"
                """
            try config.write(toFile: directory + "/sandcastled.toml", atomically: true, encoding: .utf8)
            kill(daemon.process.processIdentifier, SIGHUP)
            try await eventually("the new key to work", timeout: .seconds(20)) { try await status(key: newKey) == "200" }
            let accepted = try await create("hup-1", profile: "extra", key: newKey)
            #expect(accepted.contains(#""state":"running""#), "\(accepted)")

            // An invalid profile: the daemon keeps the policies it has, says why, and stays up.
            // Valid TOML, wrong values (malformed headers such as `[[[`, which toml++ would abort
            // on, are caught before parsing: TOMLHeaderCheckTests).
            try "memory = \"lots\"\nno_such_key = 1\n".write(toFile: policies + "/extra.toml", atomically: true, encoding: .utf8)
            kill(daemon.process.processIdentifier, SIGHUP)
            try await eventually("the refusal in the log", timeout: .seconds(20)) {
                daemon.logText.contains("keeping the ones in force")
            }
            #expect(daemon.process.isRunning)
            let still = try await create("hup-2", profile: "extra", key: newKey)
            #expect(still.contains(#""state":"running""#), "the old policy set, with 'extra', stays: \(still)")
            #expect(daemon.logText.contains("extra.toml"), "the log names the broken file")
        }
    }

    @Test func aKeyDeletedFromTheFileIsRevokedBySighupEvenTheLastOne() async throws {
        let directory = try Self.scratch()
        let key = "sc_revoke_test_\(UUID().uuidString)"
        let auth = """
            [auth]
            [[auth.keys]]
            name = "doomed"
            sha256 = "\(APIKeyring.sha256Hex(of: key))"
            role = "admin"
            """
        try await Self.withDaemon(directory, tail: auth) { daemon in
            try await daemon.waitUntilListening()
            func status(key: String) async throws -> String {
                try await DaemonProcessTests.runCurl(
                    ["--unix-socket", daemon.socket, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(key)",
                     "http://x/v1/sessions"], seconds: 30)
            }
            #expect(try await status(key: key) == "200")
            // The file now has no key at all: the reload reads it as start-up would, so the
            // deleted key is refused and the local admin key of the state directory takes over.
            let config = try String(contentsOfFile: directory + "/sandcastled.toml", encoding: .utf8)
            #expect(config.contains(auth))
            try config.replacingOccurrences(of: auth, with: "").write(
                toFile: directory + "/sandcastled.toml", atomically: true, encoding: .utf8)
            kill(daemon.process.processIdentifier, SIGHUP)
            try await eventually("the deleted key to be refused", timeout: .seconds(20)) { try await status(key: key) == "401" }
            #expect(try await status(key: daemon.adminKey) == "200")
        }
    }
}
