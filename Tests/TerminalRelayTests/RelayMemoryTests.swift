import DockerEngine
import Foundation
import NIOCore
import Testing

@testable import TerminalRelay

/// What idle attached sessions cost the daemon, engine connections included. Opt-in (it starts
/// many containers): `SANDCASTLE_RELAY_MEMORY_SESSIONS=100 swift test --filter RelayMemoryTests`.
@Suite(
    "TerminalRelay memory with real attachments",
    .enabled(if: ProcessInfo.processInfo.environment["SANDCASTLE_RELAY_MEMORY_SESSIONS"] != nil))
struct RelayMemoryTests {
    @Test func idleAttachedSessionsStaySmall() async throws {
        let sessions = Int(ProcessInfo.processInfo.environment["SANDCASTLE_RELAY_MEMORY_SESSIONS"] ?? "") ?? 100
        let client = try await EngineContainers.client()
        var ids: [String] = []
        do {
            try await measure(client, sessions: sessions, ids: &ids)
        } catch {
            for id in ids { try? await client.removeContainer(id, force: true) }
            throw error
        }
        for id in ids { try? await client.removeContainer(id, force: true) }
    }

    private func measure(_ client: DockerClient, sessions: Int, ids: inout [String]) async throws {
        for _ in 0..<sessions {
            let id = try await client.createContainer(name: nil, config: EngineContainers.ttyConfig(["sh"])).id
            ids.append(id)
            try await client.startContainer(id)
        }
        // Warm up the client's connection machinery before measuring.
        let warmUp = TerminalRelay(engine: client)
        try await withRunningRelay(warmUp) { relay in
            let terminal = try relay.terminal(session: "warm-up", containerID: ids[0])
            try await eventually("attached") { terminal.isAttached }
        }
        let before = residentBytes()
        let created = ids
        let relay = TerminalRelay(engine: client)
        let grown = try await withRunningRelay(relay) { relay in
            var terminals: [SessionTerminal] = []
            var viewers: [TerminalViewer] = []
            for (index, id) in created.enumerated() {
                let terminal = try relay.terminal(session: "memory-\(index)", containerID: id)
                terminals.append(terminal)
                viewers.append(terminal.attach(role: .readWrite))
            }
            try await eventually("all attached", timeout: .seconds(60)) { terminals.allSatisfy(\.isAttached) }
            for viewer in viewers { await viewer.write(ByteBuffer(string: "\n")) }
            try await eventually("every prompt", timeout: .seconds(60)) { terminals.allSatisfy { $0.endOffset > 0 } }
            try await Task.sleep(for: .milliseconds(500))
            let grown = residentBytes() - before
            withExtendedLifetime(viewers) {}
            return grown
        }
        print("\(sessions) idle attached sessions grew the process by \(grown >> 10) KiB (\(grown / sessions) bytes each)")
        // 500 sessions must stay far below 200 MB: allow 100 KiB each.
        #expect(grown / sessions < 100 << 10)
    }
}
