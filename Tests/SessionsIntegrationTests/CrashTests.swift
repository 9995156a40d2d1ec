import DockerEngine
import Foundation
import SandboxPolicy
import SessionStore
import Sessions
import Synchronization
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Nothing lost, nothing orphaned: the manager's process killed mid-launch, containers changed
/// behind its back, the engine restarted under it.
@Suite("Crashes, restarts and reconciliation against the real engine", .requiresEngine)
struct CrashTests {
    @Test func reconcileFindsWhatChangedWhileNobodyWatched() async throws {
        let fixture = try await ManagerFixture.make()
        do {
            let manager = fixture.manager
            _ = try await manager.create(id: "keep", request: fixture.request("keep"), owner: "a").session
            let lost = try await manager.create(id: "lost", request: fixture.request("lost"), owner: "a").session
            let ended = try await manager.create(id: "ended", request: fixture.request("ended", command: ["sh", "-c", "sleep 1; exit 7"]), owner: "a").session
            // Behind the manager's back: a container removed, one that exits, and an orphan with
            // this daemon's labels that no session knows.
            try await fixture.client.removeContainer(try #require(lost.containerID), force: true)
            _ = try await fixture.client.waitContainer(try #require(ended.containerID))
            var orphan = ContainerConfig(
                cmd: ["sleep", "3600"], image: ManagerFixture.image,
                labels: [SandcastleLabels.managed: "true", SandcastleLabels.instance: fixture.instance, SandcastleLabels.session: "ghost"],
                hostConfig: HostConfig(networkMode: "none"))
            orphan.user = "1000:1000"
            let ghost = try await fixture.client.createContainer(name: nil, config: orphan)
            // And a row a crash left in `creating`, with no container.
            _ = try await fixture.store.insertSession(
                Session(
                    id: "interrupted", owner: "a", profile: "default", image: ManagerFixture.image, command: [],
                    workspace: "interrupted", workspaceUID: 2_500_000, containerName: "sandcastle-interrupted",
                    requestHash: "x", daemonInstance: fixture.instance),
                event: NewEvent(type: .sessionCreated, sessionID: "interrupted"))

            // A new manager on the same store, as after a restart.
            try fixture.store.close()
            let restarted = try await ManagerFixture.make(directory: fixture.directory, instance: fixture.instance)
            let report = try await restarted.manager.reconcile()
            #expect(report.adopted == ["keep"])
            #expect(Set(report.exited) == ["lost", "ended"])
            #expect(report.rolledBack == ["interrupted"])
            #expect(report.removedOrphans == [ghost.id])

            #expect(try await restarted.manager.session("keep").state == .running)
            let lostNow = try await restarted.manager.session("lost")
            #expect(lostNow.state == .exited)
            #expect(lostNow.exitReason == .lost)
            let endedNow = try await restarted.manager.session("ended")
            #expect(endedNow.exitCode == 7)
            #expect(endedNow.exitReason == .exited)
            let interrupted = try await restarted.manager.session("interrupted")
            #expect(interrupted.state == .failed)
            #expect(interrupted.error?.isEmpty == false)
            await restarted.tearDown()
        } catch {
            await fixture.tearDown()
            throw error
        }
    }

    @Test func sigkillDuringTwentyLaunchesLeavesNothingUntracked() async throws {
        let fixture = try await ManagerFixture.make()
        try fixture.store.close()
        do {
            // Killed the moment the first launch finishes, while the rest are in flight.
            let host = try SessionHost(
                fixture: fixture, arguments: ["--image", ManagerFixture.image, "--launch", "20", "--prefix", "crash"],
                killWhen: { $0.contains("\"created\"") })
            host.wait()
            let created = host.lines.filter { $0.contains("\"created\"") }.count
            #expect(created < 20, "all launches finished before the kill; the test proves less than it should")

            let again = try SessionHost(fixture: fixture, arguments: ["--exit-after-reconcile"])
            again.wait()
            #expect(again.status == 0, "second start failed: \(again.lines)")

            let store = try SessionStore(.init(directory: fixture.directory + "/state", daemonInstance: fixture.instance))
            defer { try? store.close() }
            let sessions = try await store.sessions(states: nil, limit: 1000).sessions
            let containers = try await fixture.containers()
            #expect(!sessions.isEmpty)
            // Every session is running and tracked, or failed with a reason.
            for session in sessions {
                #expect(session.state == .running || session.state == .failed, "\(session)")
                if session.state == .failed { #expect(session.error?.isEmpty == false, "\(session)") }
            }
            // Zero containers with our labels lack a row; zero rows point at nothing.
            let running = Dictionary(uniqueKeysWithValues: sessions.filter { $0.state == .running }.compactMap { s in s.containerID.map { ($0, s) } })
            for container in containers {
                #expect(running[container.id] != nil, "container \(container.names) has no running session")
                #expect(container.state == "running")
            }
            #expect(running.count == sessions.filter { $0.state == .running }.count)
            #expect(containers.count == running.count)
            await fixture.tearDown()
        } catch {
            await fixture.tearDown()
            throw error
        }
    }

    @Test func storeThatCannotWriteRefusesNewSessionsOnly() async throws {
        try await ManagerFixture.with(maximumStoreBytes: 512 * 1024) { fixture in
            let manager = fixture.manager
            let running = try await manager.create(id: "before-full", request: fixture.request("full-a"), owner: "a").session
            // Fill the store to its cap with events, down to the last small free space.
            var filled = false
            for size in [8192, 1024, 128, 1] {
                let padding = String(repeating: "x", count: size)
                for _ in 0..<2000 {
                    do {
                        _ = try await fixture.store.appendEvent(NewEvent(type: "test.padding", payload: "{\"p\":\"\(padding)\"}"))
                    } catch let error as SessionStoreError where error.code == .storageFull {
                        filled = true
                        break
                    }
                }
            }
            #expect(filled)
            let refused = await #expect(throws: SessionManagerError.self) {
                try await manager.create(id: "after-full", request: fixture.request("full-b"), owner: "a").session
            }
            #expect(refused?.code == .storageUnavailable)
            #expect(refused?.message.contains("cannot write") == true)
            // Nothing half-created, and the running session goes on.
            #expect(try await fixture.containers().count == 1)
            #expect(try await manager.session("before-full").state == .running)
            #expect(try await fixture.client.inspectContainer(try #require(running.containerID)).state.running)
            #expect(try await fixture.store.integrityCheck() == ["ok"])
        }
    }
}

/// The session host executable, run as a child process with its stdout collected line by line.
final class SessionHost: Sendable {
    /// Lines the child printed, filled from the pipe's reader thread.
    final class Lines: Sendable {
        let state = Mutex<(lines: [String], partial: String, pid: Int32?)>(([], "", nil))
        /// Kills the child with SIGKILL on the first line it matches, from the reader thread: at
        /// once, not at a test's next poll, by which time a fast host may have finished.
        let killWhen: (@Sendable (String) -> Bool)?

        init(killWhen: (@Sendable (String) -> Bool)?) {
            self.killWhen = killWhen
        }

        func append(_ data: Data) {
            state.withLock { state in
                state.partial += String(decoding: data, as: UTF8.self)
                while let newline = state.partial.firstIndex(of: "\n") {
                    let line = String(state.partial[..<newline])
                    state.lines.append(line)
                    state.partial = String(state.partial[state.partial.index(after: newline)...])
                    if let pid = state.pid, killWhen?(line) == true { Glibc.kill(pid, SIGKILL) }
                }
            }
        }
    }

    private let process: Process
    private let output: Lines

    init(fixture: ManagerFixture, arguments: [String], killWhen: (@Sendable (String) -> Bool)? = nil) throws {
        output = Lines(killWhen: killWhen)
        process = Process()
        process.executableURL = try builtExecutable("sandcastle-session-host")
        process.arguments = [
            "--state", fixture.directory + "/state", "--workspaces", fixture.directory + "/workspaces",
            "--policies", ManagerFixture.policiesDirectory, "--instance", fixture.instance,
        ] + arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardInput = Pipe()  // kept open: the host runs until killed
        let output = self.output
        stdout.fileHandleForReading.readabilityHandler = { handle in output.append(handle.availableData) }
        try process.run()
        let pid = process.processIdentifier
        output.state.withLock { $0.pid = pid }
    }

    var lines: [String] { output.state.withLock { $0.lines } }
    var status: Int32 { process.terminationStatus }

    func kill(_ signal: Int32) {
        Glibc.kill(process.processIdentifier, signal)
    }

    func wait() {
        process.waitUntilExit()
    }
}
