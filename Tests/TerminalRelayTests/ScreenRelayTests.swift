import NIOCore
import Testing
import TerminalScreen

@testable import TerminalRelay

/// The relay's screens on a scripted engine: repaints for new viewers and for viewers that fell
/// behind, and the laziness of the model.
@Suite("SessionTerminal screens on a scripted engine")
struct ScreenRelayTests {
    static let fast = SessionTerminalTests.fast

    /// What a client shows after `events`: a `reset` starts a fresh terminal, repaint and output
    /// bytes are fed in order.
    static func screen(after events: [TerminalEvent], size: ScreenSize = .standard) -> ScreenSnapshot {
        var model = VTermScreenModel(size: size)
        for event in events {
            switch event {
            case .reset: model = VTermScreenModel(size: size)
            case .repaint(let bytes, _), .output(let bytes, _): bytes.withUnsafeReadableBytes { model.feed($0) }
            default: break
            }
        }
        return model.snapshot()
    }

    @Test func aNewViewerGetsResetAndRepaintThenLiveOutputWithoutGapOrRepeat() async throws {
        let engine = FakeEngine()
        var configuration = Self.fast
        configuration.scrollbackBytes = 64
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: configuration)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            let attachment = try await engine.attachment(1)
            let witness = EventRecorder(terminal.attach(role: .readOnly))
            // The top line is older than the 64-byte ring long before the new viewer comes.
            var sent = "\u{1b}[2J\u{1b}[H\u{1b}]2;editor\u{7}\u{1b}[1;33mtop line\u{1b}[0m\u{1b}[?2004h\u{1b}[5;1H"
            for round in 0..<20 { sent += "progress \(round)%\r" }
            attachment.send(sent)
            try await witness.waitFor("all of it") { $0.output.count == sent.utf8.count }
            #expect(terminal.state.withLock { $0.ring.startOffset } > 0)

            let viewer = EventRecorder(terminal.attach(role: .readOnly, replay: .screen))
            let end = UInt64(sent.utf8.count)
            try await viewer.waitFor("the repaint") { $0.events.count >= 3 }
            attachment.send("\u{1b}[6;1Hnext")
            try await viewer.waitFor("live output") { $0.text == "\u{1b}[6;1Hnext" }
            try await witness.waitFor("live output") { $0.text.hasSuffix("next") }
            let events = viewer.snapshot.events
            #expect(events.prefix(2) == [.hello(offset: end), .reset(offset: end)])
            guard case .repaint(_, let offset) = events[2] else {
                Issue.record("expected the repaint third, got \(events[2])")
                return
            }
            #expect(offset == end)
            #expect(events.last == .output(ByteBuffer(string: "\u{1b}[6;1Hnext"), offset: end))
            let rebuilt = Self.screen(after: events)
            #expect(rebuilt == Self.screen(after: witness.snapshot.events))
            #expect(rebuilt.rows[0] == "top line" && rebuilt.rows[4] == "progress 19%" && rebuilt.rows[5] == "next")
            #expect(rebuilt.title == "editor" && rebuilt.modes.bracketedPaste)

            // The snapshot route's view of it, at the same offset the next viewer starts from.
            let captured = try #require(terminal.captureScreen())
            #expect(captured.snapshot == rebuilt && captured.offset == terminal.endOffset)
        }
    }

    @Test func aViewerThatFallsBehindGetsARepaintInsteadOfTheBacklog() async throws {
        let engine = FakeEngine()
        let metrics = RelayCounters()
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: Self.fast, metrics: metrics)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            let attachment = try await engine.attachment(1)
            let slow = terminal.attach(role: .readWrite, replay: .screen)
            let fast = EventRecorder(terminal.attach(role: .readWrite))
            var total = 0
            for line in 1...60 {
                let text = "\u{1b}[3\(line % 8)mline \(line) " + String(repeating: "x", count: 60) + "\r\n"
                attachment.send(text)
                total += text.utf8.count
                try await fast.waitFor("line \(line)") { $0.output.count == total }
            }
            try await eventually("the overflow") { metrics.snapshot.overflows >= 1 }
            // Not closed: it is still a viewer, and its input still reaches the container.
            #expect(terminal.viewerCount == 2)
            let reader = EventRecorder(slow)
            try await reader.waitFor("the second repaint") { $0.events.filter { if case .reset = $0 { true } else { false } }.count == 2 }
            attachment.send("after\r\n")
            try await reader.waitFor("live output after the repaint") { $0.text.hasSuffix("after\r\n") }
            try await fast.waitFor("live output") { $0.text.hasSuffix("after\r\n") }
            let events = reader.snapshot.events
            // It never got the whole backlog, and what it shows is what the fast viewer shows.
            #expect(reader.snapshot.output.count < total)
            #expect(Self.screen(after: events) == Self.screen(after: fast.snapshot.events))
            // Output after each reset continues exactly at the reset's offset.
            var expected: UInt64?
            for event in events {
                switch event {
                case .reset(let offset): expected = offset
                case .output(let bytes, let offset):
                    #expect(offset == expected)
                    expected = offset + UInt64(bytes.readableBytes)
                default: break
                }
            }
            #expect(await slow.write(ByteBuffer(string: "still here")) == .forwarded)
        }
    }

    @Test func aViewerThatDoesNotTakeItsRepaintInTimeIsClosed() async throws {
        let engine = FakeEngine()
        var configuration = Self.fast
        configuration.repaintDeadline = .milliseconds(50)
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: configuration)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            let attachment = try await engine.attachment(1)
            let stuck = terminal.attach(role: .readOnly)
            attachment.send(String(repeating: "a", count: 800))
            attachment.send(String(repeating: "b", count: 800))  // overflows: the repaint is due
            try await eventually("the overflow") { terminal.state.withLock { $0.viewers[stuck.id]?.awaitingRepaint != nil } }
            try await Task.sleep(for: .milliseconds(100))
            attachment.send("c")
            try await eventually("the close") { terminal.viewerCount == 0 }
            var events: [TerminalEvent] = []
            for await event in stuck.events { events.append(event) }
            #expect(events == [.hello(offset: 0), .closed(.overflow)])
        }
    }

    @Test func aTerminalNobodyLooksAtMakesNoModelUntilTheRingWouldForget() async throws {
        let engine = FakeEngine()
        var configuration = Self.fast
        configuration.scrollbackBytes = 100
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: configuration)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            let attachment = try await engine.attachment(1)
            attachment.send("$ ")
            try await eventually("the prompt") { terminal.endOffset == 2 }
            #expect(terminal.state.withLock { $0.screen == nil })
            attachment.send(String(repeating: "y", count: 99))
            try await eventually("the output") { terminal.endOffset == 101 }
            #expect(terminal.state.withLock { $0.screen != nil && $0.screenFedOffset == 101 })
            attachment.send("z")
            try await eventually("more output") { terminal.endOffset == 102 }
            // Fed lazily again: the model waits for someone to look.
            #expect(terminal.state.withLock { $0.screenFedOffset } == 101)
            #expect(terminal.captureScreen()?.snapshot.rows[0] == "$ " + String(repeating: "y", count: 78))
            #expect(terminal.state.withLock { $0.screenFedOffset } == 102)
        }
    }

    @Test func replayBytesKeepsTheScrollbackReplay() async throws {
        let engine = FakeEngine()
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: Self.fast)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            let attachment = try await engine.attachment(1)
            attachment.send("abc")
            try await eventually("the output") { terminal.endOffset == 3 }
            let viewer = try await EventRecorder(terminal.attach(role: .readOnly, replay: .bytes)).waitFor("the replay") { $0.text == "abc" }
            #expect(viewer.events == [.hello(offset: 0), .output(ByteBuffer(string: "abc"), offset: 0)])
        }
    }
}
