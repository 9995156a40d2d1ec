import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TerminalRelay

/// Reads a viewer's events as fast as they come, in a task of its own, and keeps them for the
/// test to look at while the reading goes on.
final class EventRecorder: Sendable {
    struct Snapshot {
        var events: [TerminalEvent] = []
        var ended = false

        /// The output bytes, concatenated.
        var output: [UInt8] {
            events.flatMap { event -> [UInt8] in
                if case .output(let bytes, _) = event { return Array(bytes.readableBytesView) }
                return []
            }
        }

        var text: String { String(decoding: output, as: UTF8.self) }

        /// The offset just past the last output byte received (the `since` to resume from).
        var resumeOffset: UInt64? {
            for event in events.reversed() {
                if case .output(let bytes, let offset) = event { return offset + UInt64(bytes.readableBytes) }
                if case .hello(let offset) = event { return offset }
            }
            return nil
        }

        var finalEvent: TerminalEvent? { events.last.flatMap { $0.isFinal ? $0 : nil } }
    }

    private final class Shared: Sendable {
        let state = Mutex(Snapshot())
    }

    private let shared: Shared
    private let reader: Task<Void, Never>?

    init(_ viewer: TerminalViewer) {
        let shared = Shared()
        self.shared = shared
        reader = Task {
            for await event in viewer.events {
                shared.state.withLock { $0.events.append(event) }
            }
            shared.state.withLock { $0.ended = true }
        }
    }

    private init(shared: Shared) {
        self.shared = shared
        reader = nil
    }

    /// A viewer read the way the WebSocket reads one: on an event loop, through a sink, taking
    /// events as soon as the terminal says they wait.
    static func onEventLoop(_ terminal: SessionTerminal, role: ViewerRole) -> EventRecorder {
        let shared = Shared()
        let sink = LoopSink(shared: shared, loop: MultiThreadedEventLoopGroup.singleton.next())
        sink.viewer.withLock { $0 = terminal.attach(role: role, sink: sink) }
        sink.eventsAvailable()
        return EventRecorder(shared: shared)
    }

    private final class LoopSink: ViewerSink {
        let shared: Shared
        let loop: any EventLoop
        let viewer = Mutex<TerminalViewer?>(nil)

        init(shared: Shared, loop: any EventLoop) {
            self.shared = shared
            self.loop = loop
        }

        func eventsAvailable() {
            loop.execute { [self] in
                guard let viewer = viewer.withLock({ $0 }) else { return }
                while let event = viewer.take() {
                    shared.state.withLock {
                        $0.events.append(event)
                        if event.isFinal { $0.ended = true }
                    }
                }
            }
        }
    }

    var snapshot: Snapshot { shared.state.withLock { $0 } }

    /// Waits until `predicate` holds; fails after `timeout` with what was received.
    @discardableResult
    func waitFor(
        _ what: String, timeout: Duration = .seconds(10), _ predicate: (Snapshot) -> Bool
    ) async throws -> Snapshot {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = self.snapshot
            if predicate(snapshot) { return snapshot }
            if snapshot.ended || ContinuousClock.now > deadline {
                let tail = String(snapshot.text.suffix(400))
                throw TestFailure(
                    "waiting for \(what): \(snapshot.ended ? "the events ended" : "timed out"); "
                        + "\(snapshot.events.count) events, last \(String(describing: snapshot.events.last.map(Self.describe))), "
                        + "output tail \(tail.debugDescription)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits for the events to end and returns them all.
    func waitForEnd(timeout: Duration = .seconds(10)) async throws -> Snapshot {
        try await waitFor("the end of the events", timeout: timeout) { $0.ended }
    }

    func stop() {
        reader?.cancel()
    }

    static func describe(_ event: TerminalEvent) -> String {
        switch event {
        case .output(let bytes, let offset): "output(\(bytes.readableBytes) bytes at \(offset))"
        default: "\(event)"
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds; fails after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now > deadline { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
