import Dispatch
import DockerEngine
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TerminalScreen

/// The daemon's terminals, one per session: created on demand, run by ``run()``, all closed by
/// ``shutdown()``.
///
/// ## Concurrency model
///
/// A `final class` with its map of terminals in a `Mutex`. ``run()`` is the long-lived task that
/// owns everything that runs: it starts each new terminal's pump as a child of a task group (no
/// unowned tasks). The delegate hears about viewers and activity where they happen, on the
/// caller's thread, so it must be quick (see ``TerminalRelayDelegate``). A terminal is dropped from
/// the map when its pump ends (the session ended).
///
/// ## Relay lives
///
/// Scrollback and offsets live in memory only: a relay's *life* is one daemon process. A new
/// relay (after a restart) attaches to still-running containers again, and their offsets start at
/// 0, counting from the container's log, which the first attachment replays (up to the log's own
/// cap; see ``Configuration/replayEngineLogs``). A client that reconnects with an offset of an
/// earlier life gets a `hello` with the current end, lower than its `since`: that is its cue to
/// clear its screen (see ``ScrollbackRing/replay(since:)``). Persisting the ring would cost a disk
/// write per chunk for the benefit of a restart, which is rare.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` serves until graceful shutdown, which closes
/// every viewer; ``runTerminals()`` is the same without the lifecycle.
public final class TerminalRelay: Sendable {
    public struct Configuration: Sendable {
        /// Scrollback per session, in bytes. Allocated as output arrives, not up front.
        public var scrollbackBytes: Int
        /// Live output a viewer may have queued before it is closed with `overflow` (its replay does
        /// not count).
        public var viewerQueueBytes: Int
        /// The largest output event: replays are cut, and a slow viewer's queued chunks joined, to
        /// at most this many bytes.
        public var maximumEventBytes: Int
        /// How long the two halves of an exit wait for each other: after the attach stream of an
        /// exited container ends, for the caller's ``SessionTerminal/finish(code:reason:)`` before
        /// the terminal asks the engine itself; after `finish`, for the attach stream to bring the
        /// container's last bytes.
        public var exitGrace: Duration
        /// The first delay before attaching again; it doubles up to ``maximumReattachDelay``.
        public var reattachDelay: Duration
        public var maximumReattachDelay: Duration
        /// An attachment that lasted this long resets the back-off.
        public var healthyAttachment: Duration
        /// Whether a terminal's first attachment asks the engine for the container's log first, so
        /// that what it printed before (its first prompt, or everything before a daemon restart)
        /// is in the scrollback. Later attachments of the same terminal never do (it would repeat).
        /// The seam between log and live stream is not exact (see
        /// ``TerminalRelay/terminal(session:containerID:replayLogs:)``).
        public var replayEngineLogs: Bool
        /// How often, at most, input activity of one session is reported to the delegate.
        public var activityInterval: Duration
        /// Makes each session's screen model (made on first need, fed lazily: see
        /// SessionTerminal+Screen.swift). With one, a viewer whose queue overflows gets a reset
        /// and a repaint instead of being closed; nil keeps no screens (viewers that overflow are
        /// closed, and every replay is bytes).
        public var screenModel: ScreenModelFactory?
        /// How long a viewer whose queue overflowed may take to start reading its repaint before
        /// it is closed with `overflow` after all.
        public var repaintDeadline: Duration

        /// Screens kept by libvterm (the default).
        public static let libvtermScreens: ScreenModelFactory = { VTermScreenModel(size: $0) }

        public init(
            scrollbackBytes: Int = 1 << 20, viewerQueueBytes: Int = 256 << 10, maximumEventBytes: Int = 64 << 10,
            exitGrace: Duration = .seconds(2), reattachDelay: Duration = .milliseconds(100),
            maximumReattachDelay: Duration = .seconds(5), healthyAttachment: Duration = .seconds(10),
            replayEngineLogs: Bool = true, activityInterval: Duration = .seconds(1),
            screenModel: ScreenModelFactory? = Configuration.libvtermScreens, repaintDeadline: Duration = .seconds(30)
        ) {
            self.scrollbackBytes = max(1, scrollbackBytes)
            self.viewerQueueBytes = max(1, viewerQueueBytes)
            self.maximumEventBytes = max(1, maximumEventBytes)
            self.exitGrace = exitGrace
            self.reattachDelay = reattachDelay
            self.maximumReattachDelay = maximumReattachDelay
            self.healthyAttachment = healthyAttachment
            self.replayEngineLogs = replayEngineLogs
            self.activityInterval = activityInterval
            self.screenModel = screenModel
            self.repaintDeadline = repaintDeadline
        }
    }

    public var configuration: Configuration { context.configuration }
    let context: RelayContext
    private let state = Mutex(Registry())
    private let starts: AsyncStream<SessionTerminal>
    private let startContinuation: AsyncStream<SessionTerminal>.Continuation

    private struct Registry {
        var terminals: [String: SessionTerminal] = [:]
        var isShutDown = false
        var hasRun = false
    }

    public init(
        engine: any TerminalEngine, configuration: Configuration = Configuration(),
        delegate: (any TerminalRelayDelegate)? = nil, metrics: any RelayMetrics = NoRelayMetrics(),
        logger: Logger = Logger(label: "sandcastle.relay")
    ) {
        (starts, startContinuation) = AsyncStream.makeStream()
        let notify: @Sendable (RelayNotification) -> Void
        if let delegate {
            notify = { $0.deliver(to: delegate) }
        } else {
            notify = { _ in }
        }
        context = RelayContext(
            engine: engine, configuration: configuration, metrics: metrics, logger: logger, notify: notify,
            screenQueue: DispatchQueue(label: "sandcastle.relay.screens", qos: .utility))
    }

    /// Runs the terminals until ``shutdown()`` or cancellation (which shuts down too); returns once
    /// every pump has ended. Call it once; later calls return at once.
    public func runTerminals() async {
        let first = state.withLock { registry in
            defer { registry.hasRun = true }
            return !registry.hasRun
        }
        guard first else { return }
        await withDiscardingTaskGroup { pumps in
            for await terminal in starts {
                pumps.addTask {
                    await terminal.run()
                    self.forget(terminal)
                }
            }
            shutdown()
            pumps.cancelAll()
        }
    }

    /// The terminal of `session`, created (and its pump started by ``run()``) if it has none or its
    /// previous one has ended.
    ///
    /// - Parameter replayLogs: for a new terminal, whether its first attachment replays the
    ///   container's log (nil: ``Configuration/replayEngineLogs``). Pass false for a container not
    ///   started yet (start it once ``SessionTerminal/isAttached``): there is nothing to replay, and
    ///   the engine reads the log only after its upgrade answer, so output printed meanwhile may
    ///   come twice or not at all (measured under `dd`: 180 KB twice). Ignored for an existing
    ///   terminal.
    ///
    /// - Throws: ``TerminalRelayError/shutDown`` after ``shutdown()``;
    ///   ``TerminalRelayError/containerMismatch(session:running:requested:)`` when the session's
    ///   running terminal watches another container (finish it first).
    public func terminal(session: String, containerID: String, replayLogs: Bool? = nil) throws(TerminalRelayError)
        -> SessionTerminal
    {
        let (terminal, isNew) = try state.withLock { registry throws(TerminalRelayError) -> (SessionTerminal, Bool) in
            guard !registry.isShutDown else { throw .shutDown }
            if let existing = registry.terminals[session], !existing.isFinished {
                guard existing.containerID == containerID else {
                    throw .containerMismatch(session: session, running: existing.containerID, requested: containerID)
                }
                return (existing, false)
            }
            let terminal = SessionTerminal(
                sessionID: session, containerID: containerID, replayLogs: replayLogs ?? configuration.replayEngineLogs,
                context: context)
            registry.terminals[session] = terminal
            return (terminal, true)
        }
        if isNew { startContinuation.yield(terminal) }
        return terminal
    }

    /// A new terminal for `session` whose first attachment is `stream`, already open to the
    /// container's TTY (a warm-pool claim: the gate's stream, attached when the container
    /// started, so the claim makes no engine call). Later attachments, if that one ends while the
    /// container runs, come from the engine as usual; the container's log is never replayed.
    ///
    /// - Throws: ``TerminalRelayError/shutDown`` after ``shutdown()`` (the stream is closed);
    ///   `containerMismatch` when the session already has a running terminal.
    public func terminal(session: String, containerID: String, openStream stream: any TerminalAttachment) async throws(TerminalRelayError)
        -> SessionTerminal
    {
        let result = state.withLock { registry -> Result<SessionTerminal, TerminalRelayError> in
            guard !registry.isShutDown else { return .failure(.shutDown) }
            if let existing = registry.terminals[session], !existing.isFinished {
                return .failure(.containerMismatch(session: session, running: existing.containerID, requested: containerID))
            }
            let terminal = SessionTerminal(
                sessionID: session, containerID: containerID, replayLogs: false, context: context, openStream: stream)
            registry.terminals[session] = terminal
            return .success(terminal)
        }
        switch result {
        case .success(let terminal):
            startContinuation.yield(terminal)
            return terminal
        case .failure(let error):
            await stream.close()
            throw error
        }
    }

    /// The session's terminal if it has one that has not ended.
    public func existingTerminal(session: String) -> SessionTerminal? {
        state.withLock { registry in
            registry.terminals[session].flatMap { $0.isFinished ? nil : $0 }
        }
    }

    /// Sessions with a terminal.
    public var sessions: [String] { state.withLock { Array($0.terminals.keys) } }

    /// The session ended (see ``SessionTerminal/finish(code:reason:)``); nothing when it has no
    /// terminal.
    public func finish(session: String, code: Int, reason: String) {
        state.withLock { $0.terminals[session] }?.finish(code: code, reason: reason)
    }

    /// Closes every viewer with `closed(.shutdown)` and ends every attachment (``run()`` returns
    /// once they are closed); containers keep running. Terminals can no longer be created.
    public func shutdown() {
        let terminals = state.withLock { registry in
            registry.isShutDown = true
            defer { registry.terminals = [:] }
            return Array(registry.terminals.values)
        }
        for terminal in terminals { terminal.shutdown() }
        startContinuation.finish()
    }

    private func forget(_ terminal: SessionTerminal) {
        state.withLock { registry in
            if registry.terminals[terminal.sessionID] === terminal {
                registry.terminals[terminal.sessionID] = nil
            }
        }
    }
}

/// Why a terminal cannot be had.
public enum TerminalRelayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The relay has shut down.
    case shutDown
    /// The session's running terminal watches another container.
    case containerMismatch(session: String, running: String, requested: String)

    public var description: String {
        switch self {
        case .shutDown:
            "the terminal relay has shut down"
        case .containerMismatch(let session, let running, let requested):
            "session \(session) has a terminal on container \(running.prefix(12)), not \(requested.prefix(12)); finish it first"
        }
    }
}

/// What every terminal of a relay shares.
struct RelayContext: Sendable {
    let engine: any TerminalEngine
    let configuration: TerminalRelay.Configuration
    let metrics: any RelayMetrics
    let logger: Logger
    let notify: @Sendable (RelayNotification) -> Void
    /// Where the terminals' screen models parse output (see ``ScreenFeeder``): one serial queue,
    /// off the event loops and Swift's cooperative pool.
    let screenQueue: DispatchQueue
}

/// A message for the delegate, gathered by a terminal under its lock and delivered after it.
struct RelayNotification: Sendable {
    enum Kind: Sendable {
        case attached(ViewerRole)
        case detached(ViewerRole)
        case activity
    }

    let session: String
    let kind: Kind

    func deliver(to delegate: any TerminalRelayDelegate) {
        switch kind {
        case .attached(let role): delegate.viewerAttached(session: session, role: role)
        case .detached(let role): delegate.viewerDetached(session: session, role: role)
        case .activity: delegate.terminalActivity(session: session)
        }
    }
}

extension TerminalRelay: Service {
    /// As a service: runs the terminals; on graceful shutdown every viewer is closed (1001) while
    /// the containers keep running.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await runTerminals()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }
}
