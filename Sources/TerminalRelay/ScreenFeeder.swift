import Dispatch
import NIOCore
import Synchronization
import TerminalScreen

/// One terminal's screen model, fed off the terminal's lock and off the event loops.
///
/// Parsing output into the model costs about as much CPU per byte as everything else the relay
/// does with it, so it runs on a serial dispatch queue shared by the relay's terminals
/// (``queue``), in the order the terminal hands bytes over. The terminal's lock guards only the
/// hand-over (which bytes are next); the model is touched only on the queue.
///
/// Reading the screen (a repaint, a snapshot) waits on the queue for what was handed over before,
/// then reads: a few milliseconds at most after a burst of output, and only when someone looks.
/// When the queue falls more than ``backlogLimit`` bytes behind, the hand-over waits for it
/// instead of queueing more: the terminal's output slows down to the parser's pace rather than
/// piling up copies.
final class ScreenFeeder: @unchecked Sendable {
    // @unchecked: `model` is not Sendable (libvterm's state); it is created, fed and read only in
    // blocks run on `queue`, which is serial, so no two threads ever touch it at once.
    private let queue: DispatchQueue
    private var model: (any ScreenModel)?
    private let makeModel: ScreenModelFactory
    private let size: ScreenSize
    /// Bytes handed over and not yet parsed.
    private let backlog = Atomic<Int>(0)
    let backlogLimit: Int

    init(queue: DispatchQueue, size: ScreenSize, backlogLimit: Int, makeModel: @escaping ScreenModelFactory) {
        self.queue = queue
        self.size = size
        self.backlogLimit = backlogLimit
        self.makeModel = makeModel
    }

    /// Parses `bytes` after everything handed over before; returns at once unless the backlog is
    /// over its limit.
    func feed(_ bytes: [ByteBuffer]) {
        let count = bytes.reduce(0) { $0 + $1.readableBytes }
        guard count > 0 else { return }
        let pending = backlog.add(count, ordering: .relaxed).newValue
        let work: @Sendable () -> Void = { [self] in
            let model = currentModel()
            for buffer in bytes { buffer.withUnsafeReadableBytes { model.feed($0) } }
            backlog.subtract(count, ordering: .relaxed)
        }
        if pending > backlogLimit { queue.sync(execute: work) } else { queue.async(execute: work) }
    }

    /// Resizes the model after the bytes handed over before.
    func resize(_ size: ScreenSize) {
        queue.async { [self] in currentModel().resize(size) }
    }

    /// Runs `body` with the model once it has parsed everything handed over (and `bytes`).
    func read<Result: Sendable>(after bytes: [ByteBuffer], _ body: @Sendable (any ScreenModel) -> Result) -> Result {
        queue.sync { [self] in
            let model = currentModel()
            for buffer in bytes { buffer.withUnsafeReadableBytes { model.feed($0) } }
            return body(model)
        }
    }

    /// On the queue only.
    private func currentModel() -> any ScreenModel {
        if let model { return model }
        let made = makeModel(size)
        model = made
        return made
    }
}
