import DockerEngine
import Foundation
import NIOCore
import SandcastleTestSupport
import Testing

@testable import TerminalRelay

/// The relay against the real engine: TTY containers of the test image.
@Suite("TerminalRelay against the real engine", .timeLimit(.minutes(3)), .requiresEngine)
struct RelayEngineTests {
    static let configuration = TerminalRelay.Configuration(exitGrace: .milliseconds(500))

    @Test func twoViewersSeeTheSameBytesAndOnlyReadWriteInputArrives() async throws {
        let client = try await EngineContainers.client()
        let metrics = RelayCounters()
        try await EngineContainers.with(client, ["sh"]) { id in
            let relay = TerminalRelay(engine: client, configuration: Self.configuration, metrics: metrics)
            try await withRunningRelay(relay) { relay in
                let terminal = try relay.terminal(session: "two-viewers", containerID: id)
                let writer = terminal.attach(role: .readWrite)
                let reader = terminal.attach(role: .readOnly)
                let seenByWriter = EventRecorder(writer)
                let seenByReader = EventRecorder(reader)
                try await eventually("attached") { terminal.isAttached }

                // The arithmetic shows in the output only if the shell ran the line.
                #expect(await reader.write(ByteBuffer(string: "echo ro-$((5*5))\n")) == .droppedReadOnly)
                #expect(await writer.write(ByteBuffer(string: "echo rw-$((6*7))\n")) == .forwarded)
                #expect(await writer.write(ByteBuffer(string: "echo done-$((1+1))\n")) == .forwarded)
                for recorder in [seenByWriter, seenByReader] {
                    try await recorder.waitFor("both lines") { $0.text.contains("\r\nrw-42\r\n") && $0.text.contains("\r\ndone-2\r\n") }
                }
                let (one, other) = (seenByWriter.snapshot.output, seenByReader.snapshot.output)
                let common = min(one.count, other.count)
                #expect(one.prefix(common) == other.prefix(common))
                #expect(!seenByWriter.snapshot.text.contains("ro-"))
                #expect(seenByWriter.snapshot.events.first == .hello(offset: 0))
                #expect(metrics.snapshot.readOnlyDrops == 1)
            }
        }
    }

    @Test func reconnectingWithSinceReplaysExactlyWhatWasMissed() async throws {
        let client = try await EngineContainers.client()
        let counter = ["sh", "-c", "i=0; while [ $i -lt 100000 ]; do echo $i; i=$((i+1)); sleep 0.01; done"]
        try await EngineContainers.with(client, counter, start: false) { id in
            let relay = TerminalRelay(engine: client, configuration: Self.configuration)
            try await withRunningRelay(relay) { relay in
                let terminal = try relay.terminal(session: "reconnect", containerID: id, replayLogs: false)
                try await eventually("attached") { terminal.isAttached }
                try await client.startContainer(id)

                let first = terminal.attach(role: .readOnly)
                let firstRecorder = EventRecorder(first)
                try await firstRecorder.waitFor("20 lines") { $0.text.contains("\r\n20\r\n") }
                first.detach()
                let before = try await firstRecorder.waitForEnd()
                #expect(before.events.last == .closed(.detached))
                let resume = try #require(before.resumeOffset)

                // The counter goes on while nobody watches.
                try await Task.sleep(for: .milliseconds(300))
                let again = EventRecorder(terminal.attach(role: .readOnly, since: resume))
                let seenBefore = Self.numbers(in: before.output).count
                let after = try await again.waitFor("more lines") { snapshot in
                    Self.numbers(in: before.output + snapshot.output).count > seenBefore + 20
                }
                #expect(after.events.first == .hello(offset: resume))
                #expect(!after.events.contains { if case .reset = $0 { true } else { false } })

                let numbers = Self.numbers(in: before.output + after.output)
                #expect(numbers == Array(0..<numbers.count), "a gap or a repeat: \(numbers)")
                // What the two halves got is what the ring has from 0.
                let whole = try await EventRecorder(terminal.attach(role: .readOnly, since: 0))
                    .waitFor("the replay") { $0.output.count >= before.output.count + after.output.count }
                let joined = before.output + after.output
                #expect(Array(whole.output.prefix(joined.count)) == joined)
            }
        }
    }

    @Test func aViewerThatDoesNotReadIsClosedWhileTheContainerAndTheOthersGoOn() async throws {
        let client = try await EngineContainers.client()
        let metrics = RelayCounters()
        // 20 MiB of NUL bytes, which the TTY passes unchanged. (Not `yes`: the engine logs TTY
        // output line by line, and at 2-byte lines that holds the container to ~0.6 MB/s.)
        let expectedBytes = 320 * 65536
        let command = ["sh", "-c", "dd if=/dev/zero bs=65536 count=320 2>/dev/null"]
        try await EngineContainers.with(client, command, start: false) { id in
            // The engine delivers dd's output at 15-30 MB/s in bursts: the default 256 KiB is 10-20
            // ms of slack, less than a reader that keeps up on average may lag on a busy 2-core
            // host (measured: closed after 1.6 MB). 4 MiB leaves room for the scheduler and is
            // still a fifth of what the stuck viewer is offered.
            var configuration = Self.configuration
            configuration.viewerQueueBytes = 4 << 20
            // Without screens: with them the stuck viewer would wait for a repaint instead
            // (ScreenRelayTests).
            configuration.screenModel = nil
            let relay = TerminalRelay(engine: client, configuration: configuration, metrics: metrics)
            try await withRunningRelay(relay) { relay in
                let terminal = try relay.terminal(session: "slow-viewer", containerID: id, replayLogs: false)
                try await eventually("attached") { terminal.isAttached }
                let slow = terminal.attach(role: .readOnly)
                // Read on an event loop, as the WebSocket reads a viewer (the relay reads the
                // engine on one too, at dd's pace, not a task's).
                let fast = EventRecorder.onEventLoop(terminal, role: .readOnly)
                let start = ContinuousClock.now
                try await client.startContainer(id)

                let done = try await fast.waitFor("the exit", timeout: .seconds(40)) { $0.finalEvent != nil }
                let elapsed = ContinuousClock.now - start
                #expect(done.finalEvent == .exit(code: 0, reason: "exited"))
                let output = done.output
                #expect(output.count == expectedBytes)
                #expect(output.allSatisfy { $0 == 0 })

                var slowEvents: [TerminalEvent] = []
                for await event in slow.events { slowEvents.append(event) }
                #expect(slowEvents.first == .hello(offset: 0))
                #expect(slowEvents.last == .closed(.overflow))
                #expect(metrics.snapshot.overflows == 1)
                #expect(metrics.snapshot.engineBytes == expectedBytes)
                print("relayed \(expectedBytes) bytes to a fast viewer past a stuck one in \(elapsed); \(done.events.count) events")
            }
        }
    }

    @Test func resizeReachesTheTTYClamped() async throws {
        let client = try await EngineContainers.client()
        try await EngineContainers.with(client, ["sh"]) { id in
            let relay = TerminalRelay(engine: client, configuration: Self.configuration)
            try await withRunningRelay(relay) { relay in
                let terminal = try relay.terminal(session: "resize", containerID: id)
                let viewer = terminal.attach(role: .readWrite)
                let recorder = EventRecorder(viewer)
                try await eventually("attached") { terminal.isAttached }
                #expect(await viewer.resize(columns: 123, rows: 37) == .forwarded)
                await viewer.write(ByteBuffer(string: "stty size\n"))
                try await recorder.waitFor("37 123") { $0.text.contains("\r\n37 123\r\n") }
                // (busybox's stty shows a dimension of 1 as its default, so the lower bound is
                // checked by the unit tests only.)
                #expect(await viewer.resize(columns: 100_000, rows: 5000) == .forwarded)
                await viewer.write(ByteBuffer(string: "stty size\n"))
                try await recorder.waitFor("1000 1000") { $0.text.contains("\r\n1000 1000\r\n") }
            }
        }
    }

    @Test func exitThreeEndsTheViewersWithCodeThree() async throws {
        let client = try await EngineContainers.client()
        try await EngineContainers.with(client, ["sh"]) { id in
            let relay = TerminalRelay(engine: client, configuration: Self.configuration)
            try await withRunningRelay(relay) { relay in
                let terminal = try relay.terminal(session: "exit", containerID: id)
                let viewer = terminal.attach(role: .readWrite)
                let watcher = EventRecorder(terminal.attach(role: .readOnly))
                let recorder = EventRecorder(viewer)
                try await eventually("attached") { terminal.isAttached }
                await viewer.write(ByteBuffer(string: "echo bye; exit 3\n"))
                // Nobody calls finish(): the relay asks the engine after the grace.
                for snapshot in [try await recorder.waitForEnd(), try await watcher.waitForEnd()] {
                    #expect(snapshot.events.filter(\.isFinal) == [.exit(code: 3, reason: "exited")])
                    #expect(snapshot.events.last == .exit(code: 3, reason: "exited"))
                    #expect(snapshot.text.contains("\r\nbye\r\n"))
                }
                try await eventually("the terminal is dropped") { relay.existingTerminal(session: "exit") == nil }
            }
        }
    }

    @Test func interruptReachesTheForegroundProcessAndKillEndsTheSession() async throws {
        let client = try await EngineContainers.client()
        try await EngineContainers.with(client, ["sh"]) { id in
            let relay = TerminalRelay(engine: client, configuration: Self.configuration)
            try await withRunningRelay(relay) { relay in
                let terminal = try relay.terminal(session: "signals", containerID: id)
                let viewer = terminal.attach(role: .readWrite)
                let recorder = EventRecorder(viewer)
                try await eventually("attached") { terminal.isAttached }
                await viewer.write(ByteBuffer(string: "sleep 30\n"))
                try await recorder.waitFor("the command echoed") { $0.text.contains("sleep 30\r\n") }
                try await Task.sleep(for: .milliseconds(300))
                let interrupted = ContinuousClock.now
                #expect(await viewer.signal(.interrupt) == .forwarded)
                await viewer.write(ByteBuffer(string: "echo back-$((2+3))\n"))
                try await recorder.waitFor("the shell back", timeout: .seconds(5)) { $0.text.contains("\r\nback-5\r\n") }
                #expect(ContinuousClock.now - interrupted < .seconds(10))

                // The session manager, having heard `die` from the engine, says why; the relay
                // still waits for the container's last bytes before the exit frame.
                relay.finish(session: "signals", code: 137, reason: "killed")
                #expect(await viewer.signal(.kill) == .forwarded)
                let end = try await recorder.waitForEnd()
                #expect(end.events.last == .exit(code: 137, reason: "killed"))
            }
        }
    }

    @Test func shutdownLeavesTheContainerRunningAndANewRelayAttachesAgain() async throws {
        let client = try await EngineContainers.client()
        try await EngineContainers.with(client, ["sh"]) { id in
            let firstRelay = TerminalRelay(engine: client, configuration: Self.configuration)
            let firstViewer = try await withRunningRelay(firstRelay) { relay in
                let terminal = try relay.terminal(session: "restart", containerID: id)
                let viewer = terminal.attach(role: .readWrite)
                let recorder = EventRecorder(viewer)
                try await eventually("attached") { terminal.isAttached }
                await viewer.write(ByteBuffer(string: "echo first-$((1+1))\n"))
                try await recorder.waitFor("first") { $0.text.contains("\r\nfirst-2\r\n") }
                return recorder
            }
            // run() has returned: every attachment is closed.
            #expect(try await firstViewer.waitForEnd().events.last == .closed(.shutdown))
            #expect(try await client.inspectContainer(id).state.running)

            let secondRelay = TerminalRelay(engine: client, configuration: Self.configuration)
            try await withRunningRelay(secondRelay) { relay in
                let terminal = try relay.terminal(session: "restart", containerID: id)
                let viewer = terminal.attach(role: .readWrite, since: 5000)
                let recorder = EventRecorder(viewer)
                try await eventually("attached") { terminal.isAttached }
                await viewer.write(ByteBuffer(string: "echo second-$((2+2))\n"))
                let snapshot = try await recorder.waitFor("second") { $0.text.contains("\r\nsecond-4\r\n") }
                // A new life: offsets start again (at 0, with the container's log replayed first),
                // and an offset of the old life is clamped to the end.
                guard case .hello(let offset) = snapshot.events.first else {
                    Issue.record("no hello first: \(snapshot.events)")
                    return
                }
                #expect(offset < 5000)
                let history = try await EventRecorder(terminal.attach(role: .readOnly, since: 0))
                    .waitFor("the replayed log") { $0.text.contains("\r\nsecond-4\r\n") }
                #expect(history.text.contains("\r\nfirst-2\r\n"))
            }
            #expect(try await client.inspectContainer(id).state.running)
        }
    }

    /// `[0, 1, 2, ...]` from the complete `N\r\n` lines of a counter's output.
    static func numbers(in output: [UInt8]) -> [Int] {
        var text = String(decoding: output, as: UTF8.self)
        if let lastBreak = text.range(of: "\r\n", options: .backwards) {
            text = String(text[..<lastBreak.upperBound])
        }
        return text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast().map { Int($0) ?? -1 }
    }
}
