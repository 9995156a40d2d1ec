import NIOCore

/// What a viewer receives, in this order: one ``hello(offset:)``; a ``reset(offset:)`` when the
/// bytes it asked for are gone, followed by the ``repaint(_:offset:)`` of the screen when it asked
/// for one; ``output(_:offset:)`` chunks, contiguous; and last either one
/// ``exit(code:reason:)`` (the session ended) or one ``closed(_:)`` (the viewer was closed while the
/// session goes on). After the last event the sequence ends.
///
/// The WebSocket layer maps them onto `sandcastle.tty.v1`: `hello`, `reset` and `exit` as JSON text
/// frames, output as binary frames; after `exit` close 1000, after `closed(.overflow)` 1008, after
/// `closed(.shutdown)` 1001.
public enum TerminalEvent: Sendable, Equatable {
    /// First: the offset of the first byte this viewer gets. It equals the `since` the viewer asked
    /// for unless the ring no longer holds that (a reset follows) or it lies beyond the end (then
    /// it is the end: see ``ScrollbackRing/replay(since:)``).
    case hello(offset: UInt64)
    /// The viewer asked for bytes older than the ring holds: what follows starts at `offset`, and
    /// the client should clear its screen before showing it.
    case reset(offset: UInt64)
    /// Bytes that draw the screen as it was after every byte before `offset` (see
    /// ``ScreenModel/repaint()``); they have no offsets of their own. Always right after a
    /// ``reset(offset:)`` with the same offset, possibly cut into several events; output continues
    /// at `offset`.
    case repaint(ByteBuffer, offset: UInt64)
    /// Terminal bytes, the first of which is at absolute `offset`. A client resuming later asks for
    /// `since = offset + bytes.readableBytes` of the last chunk it showed.
    case output(ByteBuffer, offset: UInt64)
    /// The session ended: the container's exit code and why (`exited`, `oom`, `killed`, `timeout`,
    /// `removed`, as the caller of ``SessionTerminal/finish(code:reason:)`` said; when the relay had
    /// to find out by itself, `exited` or `oom`, or `removed` with code -1).
    case exit(code: Int, reason: String)
    /// The viewer was closed; the session goes on.
    case closed(ViewerCloseReason)

    /// Whether this is the last event of a viewer.
    public var isFinal: Bool {
        switch self {
        case .exit, .closed: true
        case .hello, .reset, .repaint, .output: false
        }
    }
}

/// Why a viewer was closed without the session ending.
public enum ViewerCloseReason: String, Sendable, Equatable {
    /// Its queue would have exceeded the configured bound: it did not read fast enough (and, when
    /// the relay keeps screens, it did not take the repaint offered instead within
    /// ``TerminalRelay/Configuration/repaintDeadline``).
    case overflow
    /// The relay shut down (the daemon stops); the container keeps running.
    case shutdown
    /// ``TerminalViewer/detach()`` was called.
    case detached
}

/// What a viewer may do.
public enum ViewerRole: String, Sendable, Equatable {
    /// Sees the output; its input, resizes and signals reach the container.
    case readWrite = "rw"
    /// Sees the output; whatever it sends is dropped (and counted).
    case readOnly = "ro"
}

/// What became of a viewer's input, resize or signal.
public enum InputOutcome: Sendable, Equatable {
    /// Handed to the engine, or held for the attachment being opened (for a resize: recorded, and
    /// applied by this call or by a concurrent one that coalesced it).
    case forwarded
    /// The viewer is read-only.
    case droppedReadOnly
    /// The session has ended, or the viewer was closed, or the engine refused; or the terminal is
    /// re-attaching and holds as much input as it may already.
    case droppedNotAttached
}

/// A terminal size. Values are clamped to ``bounds``: a browser may send 0 or 100000, the engine
/// would take 0 as "unchanged" and a huge size makes full-screen programs allocate accordingly.
public struct TerminalSize: Sendable, Equatable, CustomStringConvertible {
    /// The columns and rows accepted; anything outside is clamped to the nearest bound.
    public static let bounds = 1...1000

    public let columns: Int
    public let rows: Int

    public init(columns: Int, rows: Int) {
        self.columns = min(max(columns, Self.bounds.lowerBound), Self.bounds.upperBound)
        self.rows = min(max(rows, Self.bounds.lowerBound), Self.bounds.upperBound)
    }

    public var description: String { "\(columns)x\(rows)" }
}

/// The control signals a viewer may send (`{"type":"signal","name":"INT"}`).
///
/// INT, QUIT and TSTP are written to the TTY as the control characters a keyboard sends (0x03
/// `^C`, 0x1c `^\`, 0x1a `^Z`): the kernel's line discipline turns them into SIGINT, SIGQUIT and
/// SIGTSTP for the terminal's *foreground process group*, which is what a user means by
/// "interrupt": the `sleep` or `make` running in the shell, not the shell. Signalling through the
/// engine would reach only the container's PID 1 (the init, which forwards to the shell, which
/// ignores SIGINT when interactive). When a program has turned ISIG off (raw mode: an editor) it
/// reads the byte as a keystroke, exactly as with a real terminal.
///
/// TERM, HUP and KILL have no control character; they go through the engine
/// (`POST /containers/{id}/kill`) to the container's PID 1, i.e. they end the session.
public enum TerminalSignal: String, Sendable, CaseIterable {
    case interrupt = "INT"
    case quit = "QUIT"
    case suspend = "TSTP"
    case terminate = "TERM"
    case hangup = "HUP"
    case kill = "KILL"

    /// Parses a signal name: `INT` or `SIGINT`, in any case. Nil for anything else.
    public init?(name: String) {
        var upper = name.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        self.init(rawValue: upper)
    }

    /// The byte written to the TTY for signals the line discipline delivers.
    public var controlCharacter: UInt8? {
        switch self {
        case .interrupt: 0x03
        case .quit: 0x1c
        case .suspend: 0x1a
        case .terminate, .hangup, .kill: nil
        }
    }

    /// The signal name for the engine's kill endpoint, for the others.
    public var engineSignal: String? {
        controlCharacter == nil ? "SIG\(rawValue)" : nil
    }
}
