import NIOCore

/// One viewer of a session's terminal: a WebSocket connection, for the WebSocket layer.
///
/// Its events are consumed in one of two ways:
/// - on an event loop: attached with a ``ViewerSink``, which is told when events wait and takes
///   them with ``take()``; input goes in with ``send(_:)``, which never waits (the WebSocket's
///   byte path, with no task in between);
/// - in a task: iterate ``events`` and call ``write(_:)`` from another task.
///
/// ``resize(columns:rows:)`` and ``signal(_:)`` are async either way. The viewer leaves the
/// terminal when ``detach()`` is called, when the task iterating ``events`` is cancelled, or when
/// the last reference to it (the viewer and its event sequence) is dropped.
public final class TerminalViewer: Sendable {
    /// Unique within its terminal.
    public let id: UInt64
    public let role: ViewerRole
    public let terminal: SessionTerminal

    init(id: UInt64, role: ViewerRole, terminal: SessionTerminal) {
        self.id = id
        self.role = role
        self.terminal = terminal
    }

    deinit {
        terminal.remove(viewer: id)
    }

    /// The session this viewer watches.
    public var sessionID: String { terminal.sessionID }

    /// This viewer's events (see ``TerminalEvent`` for their order). Iterate it once: a second
    /// concurrent iteration ends at once.
    public var events: Events { Events(viewer: self) }

    /// The next event waiting for a viewer attached with a sink; nil when none waits now (the sink
    /// is told when more arrive). The last event is `exit` or `closed`.
    public func take() -> TerminalEvent? {
        guard case .event(let event) = terminal.takeEvent(viewer: id) else { return nil }
        return event
    }

    /// Sends terminal input to the container without waiting (dropped for a read-only viewer).
    /// When ``inputWritable`` turns false, stop reading input until it is true again: the
    /// container is not reading its terminal.
    @discardableResult
    public func send(_ bytes: ByteBuffer) -> InputOutcome {
        terminal.write(bytes, viewer: id, role: role)
    }

    /// Whether the viewer still receives output (its last event is not queued yet).
    public var isLive: Bool { terminal.isLive(viewer: id) }

    /// False while the container's input has more queued than the connection's high-water mark.
    public var inputWritable: Bool { terminal.inputWritable }

    /// Sends terminal input to the container (dropped for a read-only viewer). Returns once the
    /// connection can take more: a container that does not read its input slows the caller down,
    /// which is the back-pressure a task-driven reader wants.
    @discardableResult
    public func write(_ bytes: ByteBuffer) async -> InputOutcome {
        let outcome = terminal.write(bytes, viewer: id, role: role)
        while !terminal.inputWritable, terminal.isLive(viewer: id) {
            try? await Task.sleep(for: .milliseconds(5))
            if Task.isCancelled { break }
        }
        return outcome
    }

    /// Resizes the container's TTY; values are clamped to ``TerminalSize/bounds``.
    @discardableResult
    public func resize(columns: Int, rows: Int) async -> InputOutcome {
        await terminal.resize(to: TerminalSize(columns: columns, rows: rows), viewer: id, role: role)
    }

    /// Delivers a control signal (see ``TerminalSignal`` for how each one travels).
    @discardableResult
    public func signal(_ signal: TerminalSignal) async -> InputOutcome {
        await terminal.signal(signal, viewer: id, role: role)
    }

    /// Leaves the terminal: the event sequence ends with `closed(.detached)` (output still queued
    /// is dropped). Calling it again, or after the last event, does nothing.
    public func detach() {
        terminal.detach(viewer: id)
    }

    /// Leaves the terminal at once, with no last event: for a consumer that is gone (a closed
    /// WebSocket), whose sink the terminal must stop holding.
    public func leave() {
        terminal.remove(viewer: id)
    }

    /// The events of one viewer.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = TerminalEvent
        public typealias Failure = Never
        let viewer: TerminalViewer

        public struct AsyncIterator: AsyncIteratorProtocol {
            let viewer: TerminalViewer

            public mutating func next() async -> TerminalEvent? {
                await viewer.terminal.nextEvent(viewer: viewer.id)
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(viewer: viewer)
        }
    }
}

/// The consumer of a viewer fed on an event loop (see ``SessionTerminal/attach(role:since:replay:sink:)``).
public protocol ViewerSink: Sendable {
    /// Events wait: take them with ``TerminalViewer/take()`` on the sink's own loop. Called once
    /// the terminal's lock is released, from whichever thread queued them; calls may come while
    /// an earlier one is still being served.
    func eventsAvailable()
}
