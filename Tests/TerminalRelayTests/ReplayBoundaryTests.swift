import NIOCore
import Testing

@testable import TerminalRelay

/// The seam between a viewer's replay and its live output: a viewer that joins at any point of the
/// output, with any `since`, gets its `hello` (and `reset`) offset and then exactly the bytes of
/// the terminal from that offset on, none twice and none missing. This is what a browser that
/// reconnects with `?since=` relies on.
@Suite("The replay/live boundary")
struct ReplayBoundaryTests {
    /// A small ring (so that joins see it wrap and resets happen), small events (so that replays
    /// are cut into several), and queues that never overflow.
    static let configuration = TerminalRelay.Configuration(
        scrollbackBytes: 97, viewerQueueBytes: 1 << 24, maximumEventBytes: 13, exitGrace: .milliseconds(200),
        reattachDelay: .milliseconds(10), maximumReattachDelay: .milliseconds(50))

    /// The terminal's whole output: chunks of 1 to 23 bytes, no two neighbouring bytes equal, so
    /// that a byte twice or a byte missing changes the sequence.
    static let chunks: [[UInt8]] = (0..<160).map { index in
        (0..<(1 + index * 7 % 23)).map { UInt8(truncatingIfNeeded: index * 31 + $0) }
    }

    /// What one viewer was given, checked against the terminal's output.
    struct Joined {
        let since: UInt64?
        /// The terminal's end and its ring's start when the viewer joined (nil: not known, the
        /// join raced with the output).
        let endAtJoin: UInt64?
        let startAtJoin: UInt64?
        let viewer: TerminalViewer
    }

    /// Reads a viewer's events to their end (the session's exit) and checks them against `output`,
    /// the terminal's bytes from offset 0.
    static func check(_ joined: Joined, output: [UInt8]) async {
        var events: [TerminalEvent] = []
        for await event in joined.viewer.events { events.append(event) }
        let context = "since \(joined.since.map(String.init) ?? "nil"), joined at \(joined.endAtJoin.map(String.init) ?? "?")"
        guard case .hello(let hello) = events.first else {
            Issue.record("\(context): the first event is \(String(describing: events.first)), not hello")
            return
        }
        var rest = events.dropFirst()
        var reset: UInt64?
        if case .reset(let offset) = rest.first {
            reset = offset
            rest = rest.dropFirst()
        }
        #expect(events.last == .exit(code: 0, reason: "exited"), "\(context)")

        // What the offsets must be, from what the viewer asked for and where the ring was.
        if let since = joined.since {
            if let reset {
                #expect(reset == hello && hello > since, "\(context): reset \(reset), hello \(hello)")
            } else if let end = joined.endAtJoin {
                #expect(hello == min(since, end), "\(context): hello \(hello)")
            } else {
                #expect(hello == since, "\(context): hello \(hello)")
            }
        } else {
            #expect(reset == nil, "\(context): a reset without a since")
        }
        if let start = joined.startAtJoin {
            #expect(hello == max(start, min(joined.since ?? start, joined.endAtJoin ?? .max)), "\(context): hello \(hello)")
        }

        // The output: contiguous from the hello, and exactly the terminal's bytes from there on.
        var next = hello
        var received: [UInt8] = []
        for case .output(let bytes, let offset) in rest {
            #expect(offset == next, "\(context): output at \(offset), expected \(next)")
            next = offset + UInt64(bytes.readableBytes)
            received += bytes.readableBytesView
        }
        let expected = Array(output[Int(min(hello, UInt64(output.count)))...])
        if received != expected {
            let firstDifference = (0..<min(received.count, expected.count)).first { received[$0] != expected[$0] } ?? min(received.count, expected.count)
            Issue.record(
                "\(context): hello \(hello), got \(received.count) bytes, expected \(expected.count); they differ from offset \(hello + UInt64(firstDifference)) on")
        }
    }

    /// Viewers join between every two chunks, asking for nothing, for the end, for a byte or a
    /// chunk back, for what the ring no longer holds, and for the future.
    @Test func aViewerJoiningAtAnyPointGetsExactlyTheBytesFromItsHello() async throws {
        let engine = FakeEngine()
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: Self.configuration)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            var joins: [Joined] = []
            var output: [UInt8] = []
            func joinEverywhere() {
                let (start, end) = terminal.state.withLock { ($0.ring.startOffset, $0.ring.endOffset) }
                let sinces: [UInt64?] = [nil, end, end.saturatingSubtract(1), end.saturatingSubtract(20), start, start.saturatingSubtract(1), 0, end + 5]
                for since in sinces {
                    let viewer = terminal.attach(role: .readOnly, since: since)
                    joins.append(Joined(since: since, endAtJoin: end, startAtJoin: start, viewer: viewer))
                }
            }
            joinEverywhere()
            for chunk in Self.chunks {
                terminal.deliver(ByteBuffer(bytes: chunk))
                output += chunk
                joinEverywhere()
            }
            #expect(terminal.endOffset == UInt64(output.count))
            terminal.deliverExit(code: 0, reason: "exited")
            for joined in joins { await Self.check(joined, output: output) }
        }
    }

    /// The same while the output really arrives concurrently: viewers join while another task
    /// appends, each asking for an offset it read a moment before, and read their events live.
    /// Repeated, because a join that is not atomic with the appends shows only in some runs.
    @Test(arguments: 1...8)
    func aViewerJoiningWhileOutputIsAppendedGetsNoByteTwiceAndNoneMissing(run: Int) async throws {
        let engine = FakeEngine()
        try await withRunningRelay(TerminalRelay(engine: engine, configuration: Self.configuration)) { relay in
            let terminal = try relay.terminal(session: "s1", containerID: "c1")
            let rounds = 8
            let output = Array(repeating: Self.chunks.joined(), count: rounds).flatMap { $0 }
            // Each round of output starts once another viewer has joined, so joins and appends overlap.
            let (joins, joinSignal) = AsyncStream<Void>.makeStream()
            let pump = Task.detached {
                var joinsSeen = joins.makeAsyncIterator()
                for _ in 0..<rounds {
                    _ = await joinsSeen.next()
                    for chunk in Self.chunks { terminal.deliver(ByteBuffer(bytes: chunk)) }
                }
            }
            await withTaskGroup(of: Void.self) { group in
                var joined = 0
                while terminal.endOffset < UInt64(output.count), joined < 120 {
                    let end = terminal.endOffset
                    let since: UInt64? = [nil, end, end.saturatingSubtract(5), end.saturatingSubtract(200)][joined % 4]
                    let join = Joined(since: since, endAtJoin: nil, startAtJoin: nil, viewer: terminal.attach(role: .readOnly, since: since))
                    group.addTask { await Self.check(join, output: output) }
                    joinSignal.yield()
                    joined += 1
                    await Task.yield()
                }
                joinSignal.finish()
                await pump.value
                terminal.deliverExit(code: 0, reason: "exited")
            }
        }
    }
}

extension UInt64 {
    fileprivate func saturatingSubtract(_ other: UInt64) -> UInt64 {
        self >= other ? self - other : 0
    }
}
