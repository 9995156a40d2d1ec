import NIOCore

/// One viewer of a session's terminal: a WebSocket connection, for the WebSocket layer.
///
/// Iterate ``events`` in one task (the outbound side) and call ``write(_:)``, ``resize(columns:rows:)``
/// and ``signal(_:)`` from another (the inbound side). The viewer leaves the terminal when
/// ``detach()`` is called, when the task iterating ``events`` is cancelled, or when the last
/// reference to it (the viewer and its event sequence) is dropped.
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

    /// Sends terminal input to the container (dropped for a read-only viewer). Returns once the
    /// bytes are handed to the engine connection: a container that does not read its input slows
    /// the caller down, which is the back-pressure a WebSocket reader wants.
    @discardableResult
    public func write(_ bytes: ByteBuffer) async -> InputOutcome {
        await terminal.write(bytes, viewer: id, role: role)
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
