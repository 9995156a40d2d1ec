import DockerEngine
import Logging
import NIOCore

extension SessionTerminal {
    /// Runs the terminal until the session ends or the task is cancelled (the relay shuts down):
    /// the pump, which keeps the container attached and drains its output, next to a watcher that
    /// waits for the caller's ``finish(code:reason:)``. Whichever ends first cancels the other.
    func run() async {
        // Shut down before its pump was started: nothing to attach for.
        guard state.withLock({ $0.phase == .running }) else {
            await takeOpenStream()?.close()
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pump() }
            group.addTask { await self.watchForFinish() }
            _ = await group.next()
            group.cancelAll()
        }
        // A handed-over attachment the pump never got to.
        await takeOpenStream()?.close()
        // The pump is gone. An exit the caller asked for is delivered now (its last bytes had
        // their grace); without one the relay is shutting down.
        let requested = state.withLock { $0.requestedExit }
        if let requested {
            deliverExit(code: requested.code, reason: requested.reason)
        } else {
            shutdown()
        }
    }

    /// Returns once ``finish(code:reason:)`` was called and the attachment had `exitGrace` to end
    /// by itself (at once when not attached); or when cancelled.
    private func watchForFinish() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    if state.requestedExit != nil || Task.isCancelled { return true }
                    state.exitWaiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state in
                defer { state.exitWaiter = nil }
                return state.exitWaiter
            }?.resume()
        }
        if Task.isCancelled { return }
        if state.withLock({ $0.input != nil }) {
            try? await Task.sleep(for: context.configuration.exitGrace)
        }
    }

    /// Keeps the container attached and its output drained into the ring and the viewers, until it
    /// has exited (then delivers the exit) or the task is cancelled.
    private func pump() async {
        let configuration = context.configuration
        var backoff = ReattachBackoff(initial: configuration.reattachDelay, maximum: configuration.maximumReattachDelay)
        var replayLogs = self.replayLogs
        while !Task.isCancelled {
            let began = ContinuousClock.now
            var attached = false
            do {
                let attachment: any TerminalAttachment
                if let open = takeOpenStream() {
                    attachment = open
                } else {
                    attachment = try await context.engine.attachTerminal(containerID: containerID, replayLogs: replayLogs)
                }
                attached = true
                try await drain(attachment)
            } catch {
                if Task.isCancelled { return }
                logger.debug("the attachment failed", metadata: ["error": "\(error)"])
            }
            if Task.isCancelled { return }
            if attached {
                // Logs replayed again would repeat what the ring has.
                replayLogs = false
                if ContinuousClock.now - began >= configuration.healthyAttachment { backoff.reset() }
            }
            if let requested = state.withLock({ $0.requestedExit }) {
                deliverExit(code: requested.code, reason: requested.reason)
                return
            }
            var status: TerminalContainerStatus
            do {
                status = try await context.engine.terminalContainerStatus(containerID)
            } catch {
                if Task.isCancelled { return }
                logger.info("cannot inspect the container; trying again", metadata: ["error": "\(error)"])
                guard await pause(backoff.next()) else { return }
                continue
            }
            if status == .running {
                if attached {
                    context.metrics.reattached()
                    logger.info("the attach stream ended while the container runs; attaching again")
                }
                guard await pause(backoff.next()) else { return }
                continue
            }
            // Exited or removed. The caller usually knows why (OOM, a timeout, a removal) and says so
            // with finish(), which cancels this task; give it time, then settle with what the
            // engine says. A container that was never attached in this life will get no finish.
            if state.withLock({ $0.everAttached }) {
                guard await pause(configuration.exitGrace) else { return }
                if let again = try? await context.engine.terminalContainerStatus(containerID) { status = again }
            }
            switch status {
            case .exited(let code, let oomKilled):
                deliverExit(code: code, reason: oomKilled ? "oom" : "exited")
            case .missing:
                deliverExit(code: -1, reason: "removed")
            case .running:
                // Started again meanwhile (by someone else): attach to the new run.
                continue
            }
            return
        }
    }

    /// Feeds one attachment's output to the ring and the viewers until it ends: on the
    /// attachment's event loop, chunk by chunk, through ``OutputSink``.
    private func drain(_ attachment: any TerminalAttachment) async throws {
        attachmentOpened(attachment)
        defer { attachmentClosed() }
        try await attachment.deliver(to: OutputSink(terminal: self))
    }

    /// What an attachment pushes the container's output to.
    private struct OutputSink: TerminalStreamSink {
        let terminal: SessionTerminal
        func received(_ bytes: ByteBuffer) { terminal.deliver(bytes) }
    }

    /// The attachment handed over at creation, once.
    private func takeOpenStream() -> (any TerminalAttachment)? {
        state.withLock { state in
            defer { state.openStream = nil }
            return state.openStream
        }
    }

    /// Sleeps; false when cancelled.
    private func pause(_ duration: Duration) async -> Bool {
        do {
            try await Task.sleep(for: duration)
            return true
        } catch {
            return false
        }
    }

    /// Makes `input` where input goes, after writing to it what was held meanwhile. Input that
    /// comes while the held bytes are written is held too (`input` is still nil), and written
    /// in the next round: the order is the order it came in.
    private func attachmentOpened(_ input: any TerminalAttachment) {
        while true {
            let held = state.withLock { state -> [ByteBuffer] in
                state.everAttached = true
                guard state.phase == .running else { return [] }
                guard !state.heldInput.isEmpty else {
                    state.input = input
                    return []
                }
                defer {
                    state.heldInput = []
                    state.heldInputBytes = 0
                }
                return state.heldInput
            }
            if held.isEmpty { break }
            for bytes in held { input.write(bytes) }
        }
        logger.debug("attached")
    }

    private func attachmentClosed() {
        state.withLock { $0.input = nil }
    }

    /// Appends a chunk of the container's output to the ring and queues it for every live viewer.
    /// A viewer whose queue would overflow has its backlog dropped and waits for a repaint (it
    /// gets nothing until it reads again); without screens, or once it has waited longer than
    /// `repaintDeadline`, it is closed.
    func deliver(_ chunk: ByteBuffer) {
        let length = chunk.readableBytes
        guard length > 0 else { return }
        context.metrics.engineBytesReceived(length)
        let maximumBytes = context.configuration.maximumEventBytes
        var effects = Effects()
        let repaintDeadline = context.configuration.repaintDeadline
        var now: ContinuousClock.Instant?
        state.withLock { state in
            let offset = state.ring.endOffset
            state.feedScreenBeforeAppending(chunk)
            state.ring.append(chunk)
            let keepsScreens = state.makeScreen != nil
            var done: [UInt64] = []
            // Walks indices by hand: `viewers.indices` would keep the storage alive and make every
            // mutation below copy the dictionary.
            var index = state.viewers.startIndex
            while index != state.viewers.endIndex {
                defer { state.viewers.formIndex(after: &index) }
                let finished = state.viewers.values[index].offer(
                    chunk, offset: offset, keepsScreens: keepsScreens, repaintDeadline: repaintDeadline, now: &now,
                    maximumBytes: maximumBytes, effects: &effects)
                if finished { done.append(state.viewers.keys[index]) }
            }
            for id in done { state.viewers[id] = nil }
        }
        effects.perform(self)
    }

    // MARK: - Input

    /// Input held while not attached, at most: a paste's worth. More is dropped (the viewer
    /// learns it from ``InputOutcome/droppedNotAttached``).
    static let heldInputLimit = 64 << 10

    /// Writes input of viewer `id` to the TTY, without waiting; while the pump is not attached
    /// (see ``State/heldInput``), holds it for the next attachment.
    func write(_ bytes: ByteBuffer, viewer id: UInt64, role: ViewerRole) -> InputOutcome {
        if refusesReadOnly(role, bytes: bytes.readableBytes) { return .droppedReadOnly }
        enum Route { case attachment(any TerminalAttachment), held, dropped }
        let route = state.withLock { state -> Route in
            guard state.phase == .running, state.viewers[id]?.isLive == true else { return .dropped }
            if let input = state.input { return .attachment(input) }
            guard state.heldInputBytes + bytes.readableBytes <= Self.heldInputLimit else { return .dropped }
            state.heldInput.append(bytes)
            state.heldInputBytes += bytes.readableBytes
            return .held
        }
        switch route {
        case .attachment(let input): input.write(bytes)
        case .held: break
        case .dropped: return .droppedNotAttached
        }
        context.metrics.inputBytesForwarded(bytes.readableBytes)
        noteActivity()
        return .forwarded
    }

    /// Delivers a control signal of viewer `id` (see ``TerminalSignal``).
    func signal(_ signal: TerminalSignal, viewer id: UInt64, role: ViewerRole) async -> InputOutcome {
        if refusesReadOnly(role, bytes: 0) { return .droppedReadOnly }
        if let character = signal.controlCharacter {
            return write(ByteBuffer(bytes: [character]), viewer: id, role: role)
        }
        guard let name = signal.engineSignal, isLive(viewer: id) else { return .droppedNotAttached }
        do {
            try await context.engine.killContainer(containerID, signal: name)
        } catch {
            logger.info("the engine refused a signal", metadata: ["signal": "\(name)", "error": "\(error)"])
            return .droppedNotAttached
        }
        logger.info("signal sent", metadata: ["signal": "\(name)", "viewer.id": "\(id)"])
        noteActivity()
        return .forwarded
    }

    /// Resizes the TTY to `size` for viewer `id`. Bursts coalesce: while one caller talks to the
    /// engine, later sizes only replace the wanted one, and that caller applies the latest before
    /// it returns; a size equal to the applied one costs nothing.
    func resize(to size: TerminalSize, viewer id: UInt64, role: ViewerRole) async -> InputOutcome {
        if refusesReadOnly(role, bytes: 0) { return .droppedReadOnly }
        let leads = state.withLock { state -> Bool? in
            guard state.phase == .running, state.viewers[id]?.isLive == true else { return nil }
            state.desiredSize = size
            if state.resizing { return false }
            state.resizing = true
            return true
        }
        guard let leads else { return .droppedNotAttached }
        guard leads else { return .forwarded }
        var outcome = InputOutcome.forwarded
        while true {
            let next = state.withLock { state -> TerminalSize? in
                guard state.phase == .running, let wanted = state.desiredSize, wanted != state.appliedSize else {
                    state.resizing = false
                    return nil
                }
                return wanted
            }
            guard let next else { break }
            do {
                try await context.engine.resizeContainerTTY(containerID, rows: next.rows, columns: next.columns)
                state.withLock {
                    $0.appliedSize = next
                    $0.resizeScreen(next)
                }
            } catch {
                logger.debug("the engine refused a resize", metadata: ["size": "\(next)", "error": "\(error)"])
                state.withLock { $0.resizing = false }
                outcome = .droppedNotAttached
                break
            }
        }
        return outcome
    }

    /// False while the attachment has more input queued than its high-water mark.
    var inputWritable: Bool { state.withLock { $0.input }?.isWritable ?? true }

    /// Counts and refuses what a read-only viewer sends.
    private func refusesReadOnly(_ role: ViewerRole, bytes: Int) -> Bool {
        guard role == .readOnly else { return false }
        context.metrics.readOnlyInputDropped(bytes: bytes)
        return true
    }

    /// Tells the delegate about input, at most once per `activityInterval`.
    private func noteActivity() {
        let now = ContinuousClock.now
        let interval = context.configuration.activityInterval
        let due = state.withLock { state in
            if let last = state.lastActivityReport, now - last < interval { return false }
            state.lastActivityReport = now
            return true
        }
        if due { context.notify(RelayNotification(session: sessionID, kind: .activity)) }
    }
}
