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
/// The model is fed from the ring, not from each chunk: bytes stay unfed until someone needs the
/// screen (a viewer's repaint, a snapshot, a resize), or until the ring would forget bytes the
/// model has not seen, when the bytes up to the chunk being appended are handed to the model's
/// ``ScreenFeeder``. A terminal that printed little and that nobody looks at never makes a
/// model; one that prints a lot pays for the parsing once per ring's worth of output, on the
/// feeder's queue, not on the event loop that delivers the output and not under this lock.
///
/// What runs here runs inside the terminal's lock: it only decides which bytes go to the model
/// next (copies out of the ring), so that the model sees every byte once, in order, and a repaint
/// is exactly the screen at the ring's end offset.
extension SessionTerminal {
    /// The screen as text and as a repaint, at one offset; nil when the relay keeps no screens.
    public func captureScreen() -> CapturedScreen? {
        state.withLock { state in
            let offset = state.ring.endOffset
            return state.readScreen { screen in
                CapturedScreen(snapshot: screen.snapshot(), repaint: screen.repaint(), offset: offset, source: .terminal)
            }
        }
    }
}

extension SessionTerminal.State {
    /// The feeder, made on first need. Made before the ring ever forgets a byte (see
    /// `feedScreenBeforeAppending`), so the ring still holds everything from offset 0 (of this
    /// relay's life).
    private mutating func screenFeeder() -> ScreenFeeder? {
        if let screen { return screen }
        guard let makeScreen else { return nil }
        let feeder = ScreenFeeder(
            queue: screenQueue, size: screenSize, backlogLimit: 4 * ring.capacity, makeModel: makeScreen)
        screen = feeder
        screenFedOffset = ring.startOffset
        return feeder
    }

    /// The bytes the model has not been handed, copied out of the ring; marks them handed.
    private mutating func takeUnfed() -> [ByteBuffer] {
        guard screenFedOffset < ring.endOffset else { return [] }
        let bytes = ring.bytes(from: screenFedOffset)
        screenFedOffset = ring.endOffset
        return [bytes]
    }

    /// Runs `body` with the model caught up with everything the ring holds; nil without screens.
    mutating func readScreen<Result: Sendable>(_ body: @Sendable (any ScreenModel) -> Result) -> Result? {
        guard let feeder = screenFeeder() else { return nil }
        return feeder.read(after: takeUnfed(), body)
    }

    /// Called before `chunk` is appended: hands the model the unfed bytes and the chunk when the
    /// ring would otherwise forget bytes it has not seen.
    mutating func feedScreenBeforeAppending(_ chunk: ByteBuffer) {
        guard makeScreen != nil else { return }
        let unfed = ring.endOffset + UInt64(chunk.readableBytes) - screenFedOffset
        guard unfed > UInt64(ring.capacity), let feeder = screenFeeder() else { return }
        feeder.feed(takeUnfed() + [chunk])
        screenFedOffset += UInt64(chunk.readableBytes)
    }

    /// The size the rw viewer set: the model catches up with the output written at the old size,
    /// then takes the new one.
    mutating func resizeScreen(_ size: TerminalSize) {
        screenSize = ScreenSize(columns: size.columns, rows: size.rows)
        guard let feeder = screenFeeder() else { return }
        feeder.feed(takeUnfed())
        feeder.resize(screenSize)
    }

    /// The repaint cut into events of at most `maximumEventBytes`, and its offset; nil when the
    /// relay keeps no screens.
    ///
    /// While the ring still holds the terminal's whole output and it is short, the repaint is a
    /// terminal reset (`ESC c`) followed by that output: it draws exactly the screen the model
    /// would, and a new session's first viewer then costs no model (nor its memory).
    mutating func repaint(maximumBytes: Int? = nil) -> (chunks: [ByteBuffer], offset: UInt64)? {
        guard makeScreen != nil else { return nil }
        if screen == nil, ring.startOffset == 0, ring.endOffset + 2 <= UInt64(maximumBytes ?? maximumEventBytes) {
            var bytes = ByteBuffer(bytes: [0x1B, 0x63])
            var history = ring.bytes(from: 0)
            bytes.writeBuffer(&history)
            return ([bytes], ring.endOffset)
        }
        guard let bytes = readScreen({ $0.repaint() }) else { return nil }
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
