import Dispatch
import DockerEngine
import Logging
import NIOCore
import Synchronization
import TerminalScreen

/// One session's terminal: a single engine attachment to its container's TTY, fanned out to any
/// number of viewers. Get one from ``TerminalRelay/terminal(session:containerID:replayLogs:)``.
///
/// ## Concurrency model
///
/// A `final class` whose whole state (scrollback ring, viewers and their queues, the current
/// attachment, the phase) sits in one `Mutex`. A mutex rather than an actor because every path is
/// short and synchronous (append to the ring, move buffers between queues), because the bytes
/// arrive on event loops that must not wait in an actor's queue, and because a viewer dropped in
/// a `deinit` must be able to leave synchronously. The rules:
///
/// - The lock is never held across an `await`, and continuations are resumed, sinks told, metrics
///   counted and notifications sent only after it is released (see `Effects`).
/// - **Output** arrives on the attachment's event loop (``TerminalAttachment/deliver(to:)`` calls
///   `deliver(_:)` for each chunk: no task between the engine's socket and the ring). It never
///   waits for a viewer: each chunk is copied into the ring and its buffer queued (shared, not
///   copied) for every live viewer. A viewer whose queue is full has its backlog dropped and gets
///   a reset and a repaint of the screen when it takes events again; without screens, or when it
///   does not take them within ``TerminalRelay/Configuration/repaintDeadline``, it is closed with
///   ``ViewerCloseReason/overflow``. The container's output therefore never stalls because of a
///   viewer, and a viewer never stalls another.
/// - Each **viewer** has one consumer. A WebSocket viewer has a ``ViewerSink`` on its own
///   channel's event loop: it is told that events wait and takes them while its channel is
///   writable, so its socket's writability is its back-pressure. A viewer read by a task (tests,
///   tools) iterates ``TerminalViewer/events``, which parks one continuation.
/// - **Input** is written by the viewers straight to the attachment's channel, without waiting; a
///   container that stops reading stdin makes ``TerminalViewer/inputWritable`` false, and the
///   WebSocket stops reading its client until it is true again.
/// - The **pump** (``run()``, a child task of ``TerminalRelay/run()``) is control only: it
///   attaches, waits for the attachment to end, re-attaches or settles the exit.
/// - The **end**: whoever learns first that the session is over (the caller's
///   ``finish(code:reason:)``, or the pump finding the container exited) delivers the one
///   ``TerminalEvent/exit(code:reason:)``; the phase leaves `running` exactly once, under the lock.
///
/// No thread is spent per session: the attachment is a SwiftNIO channel on the shared event
/// loops, and an idle terminal is a suspended task, its state and a ring of a few KiB.
public final class SessionTerminal: Sendable {
    public let sessionID: String
    public let containerID: String
    /// Whether the first attachment replays the container's log.
    let replayLogs: Bool
    let context: RelayContext
    let logger: Logger
    let state: Mutex<State>

    init(
        sessionID: String, containerID: String, replayLogs: Bool, context: RelayContext,
        openStream: (any TerminalAttachment)? = nil
    ) {
        self.sessionID = sessionID
        self.containerID = containerID
        self.replayLogs = replayLogs
        self.context = context
        var logger = context.logger
        logger[metadataKey: "session.id"] = "\(sessionID)"
        logger[metadataKey: "container.id"] = "\(containerID.prefix(12))"
        self.logger = logger
        self.state = Mutex(
            State(
                ring: ScrollbackRing(capacity: context.configuration.scrollbackBytes), openStream: openStream,
                makeScreen: context.configuration.screenModel, maximumEventBytes: context.configuration.maximumEventBytes,
                screenQueue: context.screenQueue))
    }

    // MARK: - State

    enum Phase: Equatable {
        case running
        case finished(code: Int, reason: String)
        case shutDown
    }

    struct ViewerSlot {
        let role: ViewerRole
        var queue: ViewerQueue
        /// The consumer, parked in `next()` (a viewer read by a task).
        var waiter: CheckedContinuation<TerminalEvent?, Never>?
        /// The consumer of a viewer fed on an event loop: told when events wait.
        let sink: (any ViewerSink)?
        /// Receives output; false once its last event is queued.
        var isLive: Bool
        /// Set when its queue overflowed: its output was dropped, and the next event it takes is
        /// a reset and a repaint of the screen (see ``SessionTerminal/deliver(_:)``).
        var awaitingRepaint: ContinuousClock.Instant?

        /// The last event has been taken: nothing more for this viewer.
        var isDone: Bool { !isLive && queue.isEmpty }

        /// Hands the next event to a parked consumer, or tells the sink that events wait.
        mutating func wake(maximumBytes: Int, effects: inout Effects) {
            if let sink {
                if !queue.isEmpty { effects.wake(sink) }
                return
            }
            guard let waiter, let event = queue.dequeue(maximumBytes: maximumBytes) else { return }
            self.waiter = nil
            effects.resume(waiter, with: event)
        }

        // The two steps below run on a slot in place, as a mutating call through the viewers'
        // dictionary (`viewers.values[index].offer(...)`): reading a slot out of the dictionary
        // copies it, and a copy shares its queue's storage, so the next change to the queue
        // would copy that too. These run for every chunk of output and every event taken.

        /// Queues live output `chunk` (at `offset`) for this viewer and wakes its consumer;
        /// returns whether the viewer is done and can be forgotten. See
        /// ``SessionTerminal/deliver(_:)`` for what happens to a viewer that falls behind.
        mutating func offer(
            _ chunk: ByteBuffer, offset: UInt64, keepsScreens: Bool, repaintDeadline: Duration,
            now: inout ContinuousClock.Instant?, maximumBytes: Int, effects: inout Effects
        ) -> Bool {
            guard isLive else { return false }
            if let since = awaitingRepaint {
                // Its repaint, built when it reads again, will show this chunk.
                let current = now ?? .now
                now = current
                guard current - since > repaintDeadline else { return false }
                close(with: .closed(.overflow), dropPending: true, effects: &effects)
            } else if !queue.enqueueLive(chunk, offset: offset) {
                effects.overflowed()
                if keepsScreens {
                    queue.dropOutput()
                    awaitingRepaint = .now
                } else {
                    close(with: .closed(.overflow), dropPending: true, effects: &effects)
                }
            }
            wake(maximumBytes: maximumBytes, effects: &effects)
            return isDone
        }

        /// Stops feeding this viewer: queues `event` as its last (with `dropPending`, after dropping
        /// what it has not taken; a viewer that cannot keep up is closed so with `overflow`).
        mutating func close(with event: TerminalEvent, dropPending: Bool, effects: inout Effects) {
            isLive = false
            awaitingRepaint = nil
            queue.close(with: event, dropPending: dropPending)
            effects.viewerLeft(role)
        }

        enum Next {
            case event(TerminalEvent, done: Bool)
            case wait
            /// Its backlog was dropped and it has read all the rest: a repaint comes first.
            case repaintFirst
        }

        /// Takes the next event off the queue (the terminal's ``State/take(_:maximumBytes:effects:)``).
        mutating func next(maximumBytes: Int) -> Next {
            if awaitingRepaint != nil, isLive, queue.isEmpty { return .repaintFirst }
            guard let event = queue.dequeue(maximumBytes: maximumBytes) else { return .wait }
            return .event(event, done: isDone)
        }
    }

    struct State {
        var ring: ScrollbackRing
        var viewers: [UInt64: ViewerSlot] = [:]
        var nextViewerID: UInt64 = 1
        var phase = Phase.running
        /// The attachment while the pump is attached: where input goes.
        var input: (any TerminalAttachment)?
        /// Input that came while the pump was not attached (before its first attachment, or while
        /// it attaches again), in order, for the next attachment: keys typed right after `hello`
        /// are not lost. At most ``SessionTerminal/heldInputLimit`` bytes.
        var heldInput: [ByteBuffer] = []
        var heldInputBytes = 0
        var everAttached = false
        /// The caller's ``SessionTerminal/finish(code:reason:)``, until it is delivered.
        var requestedExit: (code: Int, reason: String)?
        var exitWaiter: CheckedContinuation<Void, Never>?
        var desiredSize: TerminalSize?
        var appliedSize: TerminalSize?
        var resizing = false
        var lastActivityReport: ContinuousClock.Instant?
        /// An attachment opened before the terminal existed (a warm-pool claim): the pump's first
        /// attachment, instead of asking the engine for one.
        var openStream: (any TerminalAttachment)?
        /// Makes the screen model; nil when the relay keeps no screens.
        let makeScreen: ScreenModelFactory?
        /// The largest repaint event.
        let maximumEventBytes: Int
        /// Where screen models are fed (the relay's one queue).
        let screenQueue: DispatchQueue
        /// The screen model's feeder, made on first need (see SessionTerminal+Screen.swift).
        var screen: ScreenFeeder?
        /// The offset of the first byte the screen model has not been handed.
        var screenFedOffset: UInt64 = 0
        /// The size the rw viewers last asked for.
        var screenSize = ScreenSize.standard

        /// Queues `event` as the last of viewer `id` and stops feeding it output.
        mutating func close(
            _ id: UInt64, with event: TerminalEvent, dropPending: Bool, maximumBytes: Int, effects: inout Effects
        ) {
            guard var slot = viewers[id], slot.isLive else { return }
            if slot.awaitingRepaint != nil, !dropPending { queueRepaint(into: &slot) }
            slot.close(with: event, dropPending: dropPending, effects: &effects)
            slot.wake(maximumBytes: maximumBytes, effects: &effects)
            viewers[id] = slot.isDone ? nil : slot
        }

        /// Closes every live viewer with `event`, leaves `running`, and forgets the input.
        mutating func end(_ phase: Phase, event: TerminalEvent, maximumBytes: Int, effects: inout Effects) {
            self.phase = phase
            input = nil
            heldInput = []
            heldInputBytes = 0
            for id in Array(viewers.keys) {
                close(id, with: event, dropPending: false, maximumBytes: maximumBytes, effects: &effects)
            }
        }
    }

    /// The offset the next output byte will get.
    public var endOffset: UInt64 { state.withLock { $0.ring.endOffset } }

    /// Whether the engine attachment is open right now (false before the first, while
    /// re-attaching, and after the end).
    public var isAttached: Bool { state.withLock { $0.input != nil } }

    /// Viewers currently watching (attached and not yet closed).
    public var viewerCount: Int { state.withLock { $0.viewers.values.count { $0.isLive } } }

    /// Whether the terminal has ended (exit delivered, or shut down): attach a new one to watch
    /// the container again.
    public var isFinished: Bool { state.withLock { $0.phase != .running } }

    /// The exit delivered to viewers, once the session has ended.
    public var exitStatus: (code: Int, reason: String)? {
        state.withLock {
            if case .finished(let code, let reason) = $0.phase { return (code, reason) }
            return nil
        }
    }

    /// Bytes of scrollback storage allocated so far.
    public var scrollbackAllocatedBytes: Int { state.withLock { $0.ring.allocatedBytes } }

    // MARK: - Viewers

    /// Attaches a viewer. Its events begin with `hello`, then a `reset` if `since` is older than the
    /// ring holds, then the replay and the live output (see ``ScrollbackRing/replay(since:)``).
    ///
    /// With `replay: .screen` a viewer that gave no `since`, or one older than the ring holds, gets
    /// `hello`, `reset` and the ``TerminalEvent/repaint(_:offset:)`` of the screen instead of the
    /// bytes (when the relay keeps screens: ``Configuration/screenModel``).
    ///
    /// - Parameter since: the offset to replay from; nil for everything the ring holds.
    ///
    /// A viewer that attaches after the session ended gets the replay and the exit; after a
    /// shutdown it gets `closed(.shutdown)` after its hello.
    ///
    /// - Parameter sink: for a viewer fed on an event loop: told (after this returns, and whenever
    ///   more arrive) that events wait, which its loop then takes with ``TerminalViewer/take()``.
    ///   Without one, iterate ``TerminalViewer/events`` in a task.
    public func attach(
        role: ViewerRole, since: UInt64? = nil, replay mode: ViewerReplay = .bytes, sink: (any ViewerSink)? = nil
    ) -> TerminalViewer {
        let maximumBytes = context.configuration.maximumEventBytes
        var effects = Effects()
        let id = state.withLock { state in
            let id = state.nextViewerID
            state.nextViewerID += 1
            var queue = ViewerQueue(limit: context.configuration.viewerQueueBytes)
            var isLive = false
            switch state.phase {
            case .shutDown:
                queue.enqueue(.hello(offset: state.ring.endOffset))
                queue.close(with: .closed(.shutdown), dropPending: false)
            case .running, .finished:
                let replay = state.ring.replay(since: since)
                if mode == .screen, since == nil || replay.isReset, let repaint = state.repaint(maximumBytes: maximumBytes) {
                    queue.enqueue(.hello(offset: repaint.offset))
                    queue.enqueue(.reset(offset: repaint.offset))
                    for chunk in repaint.chunks { queue.enqueue(.repaint(chunk, offset: repaint.offset)) }
                } else {
                    queue.enqueue(.hello(offset: replay.start))
                    if replay.isReset { queue.enqueue(.reset(offset: replay.start)) }
                    var bytes = state.ring.bytes(from: replay.start)
                    var offset = replay.start
                    while bytes.readableBytes > 0, let chunk = bytes.readSlice(length: min(bytes.readableBytes, maximumBytes)) {
                        queue.enqueue(.output(chunk, offset: offset))
                        offset += UInt64(chunk.readableBytes)
                    }
                }
                if case .finished(let code, let reason) = state.phase {
                    queue.close(with: .exit(code: code, reason: reason), dropPending: false)
                } else {
                    isLive = true
                    effects.viewerJoined(role)
                }
            }
            state.viewers[id] = ViewerSlot(role: role, queue: queue, waiter: nil, sink: sink, isLive: isLive)
            return id
        }
        effects.perform(self)
        sink?.eventsAvailable()
        logger.debug("viewer attached", metadata: ["viewer.id": "\(id)", "viewer.role": "\(role.rawValue)"])
        return TerminalViewer(id: id, role: role, terminal: self)
    }

    enum Take {
        case event(TerminalEvent)
        case end
        case wait
    }

    /// The next event of viewer `id` if one waits (for a viewer with a sink, on its loop).
    func takeEvent(viewer id: UInt64) -> Take {
        let maximumBytes = context.configuration.maximumEventBytes
        var effects = Effects()
        let taken = state.withLock { $0.take(id, maximumBytes: maximumBytes, effects: &effects) }
        effects.perform(self)
        return taken
    }

    /// The next event of viewer `id`, waiting for one; nil once its last event was taken or it
    /// was detached. Cancelling the waiting task detaches the viewer.
    func nextEvent(viewer id: UInt64) async -> TerminalEvent? {
        let maximumBytes = context.configuration.maximumEventBytes
        @Sendable func take(_ state: inout State, effects: inout Effects) -> Take {
            state.take(id, maximumBytes: maximumBytes, effects: &effects)
        }
        var effects = Effects()
        let first = state.withLock { take(&$0, effects: &effects) }
        effects.perform(self)
        switch first {
        case .event(let event): return event
        case .end: return nil
        case .wait: break
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TerminalEvent?, Never>) in
                var effects = Effects()
                let result = state.withLock { state -> Take in
                    let result = take(&state, effects: &effects)
                    guard case .wait = result else { return result }
                    if Task.isCancelled {
                        state.remove(id, effects: &effects)
                        return .end
                    }
                    // One consumer per viewer: a second concurrent iteration just ends.
                    guard state.viewers[id]?.waiter == nil else { return .end }
                    state.viewers[id]?.waiter = continuation
                    return .wait
                }
                effects.perform(self)
                switch result {
                case .event(let event): continuation.resume(returning: event)
                case .end: continuation.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            remove(viewer: id)
        }
    }

    /// Closes viewer `id` with `closed(.detached)`; its consumer still gets that event.
    func detach(viewer id: UInt64) {
        var effects = Effects()
        state.withLock {
            $0.close(
                id, with: .closed(.detached), dropPending: true,
                maximumBytes: context.configuration.maximumEventBytes, effects: &effects)
        }
        effects.perform(self)
    }

    /// Forgets viewer `id` at once (its consumer is gone).
    func remove(viewer id: UInt64) {
        var effects = Effects()
        state.withLock { $0.remove(id, effects: &effects) }
        effects.perform(self)
    }

    func isLive(viewer id: UInt64) -> Bool {
        state.withLock { $0.phase == .running && $0.viewers[id]?.isLive == true }
    }

    // MARK: - Ending

    /// The session ended: viewers get `exit(code:reason:)` after the output still on its way.
    ///
    /// The caller (the session manager, told by the engine's events) knows the reason; the last
    /// bytes of the container may still be in the attach stream when it calls, so the exit is
    /// delivered when that stream ends, or after ``TerminalRelay/Configuration/exitGrace`` at the
    /// latest. Only the first exit counts, whoever finds it (see the type's documentation).
    public func finish(code: Int, reason: String) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.phase == .running, state.requestedExit == nil else { return nil }
            state.requestedExit = (code, reason)
            defer { state.exitWaiter = nil }
            return state.exitWaiter
        }
        waiter?.resume()
    }

    /// Delivers the exit to every viewer, unless the terminal already ended.
    func deliverExit(code: Int, reason: String) {
        var effects = Effects()
        let delivered = state.withLock { state in
            guard state.phase == .running else { return false }
            state.end(
                .finished(code: code, reason: reason), event: .exit(code: code, reason: reason),
                maximumBytes: context.configuration.maximumEventBytes, effects: &effects)
            return true
        }
        effects.perform(self)
        if delivered { logger.info("terminal ended", metadata: ["exit.code": "\(code)", "exit.reason": "\(reason)"]) }
    }

    /// Closes every viewer with `closed(.shutdown)`; the attachment ends when the relay cancels
    /// the pump. An attachment handed over that no pump took yet is closed here. The container is
    /// left alone.
    func shutdown() {
        var effects = Effects()
        let unclaimed = state.withLock { state -> (any TerminalAttachment)? in
            defer { state.openStream = nil }
            guard state.phase == .running else { return state.openStream }
            state.end(
                .shutDown, event: .closed(.shutdown), maximumBytes: context.configuration.maximumEventBytes,
                effects: &effects)
            return state.openStream
        }
        effects.perform(self)
        if let unclaimed { Task { await unclaimed.close() } }
    }
}

extension SessionTerminal.State {
    /// Takes the next event of viewer `id`: a repaint first if its backlog was dropped.
    mutating func take(_ id: UInt64, maximumBytes: Int, effects: inout Effects) -> SessionTerminal.Take {
        guard let index = viewers.index(forKey: id) else { return .end }
        var next = viewers.values[index].next(maximumBytes: maximumBytes)
        if case .repaintFirst = next {
            // Rare (a viewer that fell behind): the repaint needs the whole state, so the slot
            // comes out of the dictionary for it.
            var slot = viewers.values[index]
            queueRepaint(into: &slot)
            viewers.values[index] = slot
            next = viewers.values[index].next(maximumBytes: maximumBytes)
        }
        guard case .event(let event, let done) = next else { return .wait }
        effects.taken(event)
        if done { viewers.remove(at: index) }
        return .event(event)
    }

    /// Forgets viewer `id` and wakes its consumer with the end.
    mutating func remove(_ id: UInt64, effects: inout Effects) {
        guard let slot = viewers.removeValue(forKey: id) else { return }
        if slot.isLive { effects.viewerLeft(slot.role) }
        if let waiter = slot.waiter { effects.resume(waiter, with: nil) }
    }
}

/// What a locked section leaves to do once the lock is released: resume consumers, count
/// metrics, tell the delegate.
struct Effects {
    private var resumptions: [(CheckedContinuation<TerminalEvent?, Never>, TerminalEvent?)] = []
    private var wakes: [any ViewerSink] = []
    private var notifications: [RelayNotification.Kind] = []
    private var viewerDelta = 0
    private var deliveredBytes = 0
    private var overflows = 0

    mutating func resume(_ waiter: CheckedContinuation<TerminalEvent?, Never>, with event: TerminalEvent?) {
        if let event { taken(event) }
        resumptions.append((waiter, event))
    }

    mutating func wake(_ sink: any ViewerSink) {
        wakes.append(sink)
    }

    mutating func taken(_ event: TerminalEvent) {
        if case .output(let bytes, _) = event { deliveredBytes += bytes.readableBytes }
    }

    mutating func viewerJoined(_ role: ViewerRole) {
        viewerDelta += 1
        notifications.append(.attached(role))
    }

    mutating func viewerLeft(_ role: ViewerRole) {
        viewerDelta -= 1
        notifications.append(.detached(role))
    }

    mutating func overflowed() {
        overflows += 1
    }

    func perform(_ terminal: SessionTerminal) {
        for (waiter, event) in resumptions { waiter.resume(returning: event) }
        for sink in wakes { sink.eventsAvailable() }
        let metrics = terminal.context.metrics
        if deliveredBytes > 0 { metrics.viewerBytesDelivered(deliveredBytes) }
        if viewerDelta != 0 { metrics.viewersChanged(by: viewerDelta) }
        for _ in 0..<overflows { metrics.viewerOverflowed() }
        for kind in notifications { terminal.context.notify(RelayNotification(session: terminal.sessionID, kind: kind)) }
    }
}
