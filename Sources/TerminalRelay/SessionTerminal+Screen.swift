import NIOCore
import TerminalScreen

/// Makes a session's screen model at a size (``TerminalRelay/Configuration/screenModel``).
public typealias ScreenModelFactory = @Sendable (ScreenSize) -> any ScreenModel

/// What a viewer that gives no `since` (or one older than the ring) gets first.
public enum ViewerReplay: String, Sendable, Equatable {
    /// A reset and a repaint of the screen (when the relay keeps screens), then live output.
    case screen
    /// The bytes the ring holds, then live output.
    case bytes
}

/// The screen model of a terminal.
///
/// ## Laziness
///
/// The model is fed from the ring, not from the pump: bytes stay unfed until someone needs the
/// screen (a viewer's repaint, a snapshot, a resize), or until the ring would forget bytes the
/// model has not seen, when the pump feeds it everything up to the chunk it appends. A terminal
/// that printed little and that nobody looks at never makes a model; one that prints a lot
/// pays for the parsing once per ring's worth of output.
///
/// Everything here runs inside the terminal's lock (the model is not `Sendable`; it is one more
/// part of the state the lock guards).
extension SessionTerminal {
    /// The screen as text and as a repaint, at one offset; nil when the relay keeps no screens.
    public func captureScreen() -> CapturedScreen? {
        state.withLock { state in
            guard let screen = state.caughtUpScreen() else { return nil }
            return CapturedScreen(
                snapshot: screen.snapshot(), repaint: screen.repaint(), offset: state.ring.endOffset, source: .terminal)
        }
    }
}

extension SessionTerminal.State {
    /// The model, made if needed and fed everything the ring holds that it has not seen.
    mutating func caughtUpScreen() -> (any ScreenModel)? {
        guard let makeScreen else { return nil }
        let screen: any ScreenModel
        if let existing = self.screen {
            screen = existing
        } else {
            // Made before the ring ever forgets a byte (see `feedScreenBeforeAppending`), so the
            // ring still holds everything from offset 0 (of this relay's life).
            screen = makeScreen(screenSize)
            self.screen = screen
            screenFedOffset = ring.startOffset
        }
        if screenFedOffset < ring.endOffset {
            ring.withBytes(from: screenFedOffset) { screen.feed($0) }
            screenFedOffset = ring.endOffset
        }
        return screen
    }

    /// Called by the pump before it appends `chunk`: feeds the model when the ring would
    /// otherwise forget bytes it has not seen.
    mutating func feedScreenBeforeAppending(_ chunk: ByteBuffer) {
        guard makeScreen != nil else { return }
        let unfed = ring.endOffset + UInt64(chunk.readableBytes) - screenFedOffset
        guard unfed > UInt64(ring.capacity), let screen = caughtUpScreen() else { return }
        chunk.withUnsafeReadableBytes { screen.feed($0) }
        screenFedOffset += UInt64(chunk.readableBytes)
    }

    /// The size the rw viewer set: the model catches up with the output written at the old size,
    /// then takes the new one.
    mutating func resizeScreen(_ size: TerminalSize) {
        screenSize = ScreenSize(columns: size.columns, rows: size.rows)
        caughtUpScreen()?.resize(screenSize)
    }

    /// The repaint cut into events of at most `maximumEventBytes`, and its offset; nil when the
    /// relay keeps no screens.
    mutating func repaint() -> (chunks: [ByteBuffer], offset: UInt64)? {
        guard let screen = caughtUpScreen() else { return nil }
        let bytes = screen.repaint()
        var chunks: [ByteBuffer] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + maximumEventBytes)
            chunks.append(ByteBuffer(bytes: bytes[start..<end]))
            start = end
        }
        return (chunks, ring.endOffset)
    }

    /// Queues a reset and the repaint for a viewer whose backlog was dropped; live output follows
    /// from the repaint's offset on, with no gap and nothing twice (all under the one lock).
    mutating func queueRepaint(into slot: inout SessionTerminal.ViewerSlot) {
        slot.awaitingRepaint = nil
        guard let repaint = repaint() else { return }
        slot.queue.enqueue(.reset(offset: repaint.offset))
        for chunk in repaint.chunks { slot.queue.enqueue(.repaint(chunk, offset: repaint.offset)) }
    }
}
