import DockerEngine
import NIOCore

/// What a terminal needs from the container engine. ``DockerClient`` is the real implementation;
/// tests substitute a scripted one.
public protocol TerminalEngine: Sendable {
    /// Attaches to the container's TTY (stdin, stdout and stderr).
    ///
    /// - Parameter replayLogs: whether the engine first sends what the container printed before
    ///   (its log), then the live stream.
    func attachTerminal(containerID: String, replayLogs: Bool) async throws -> any TerminalAttachment

    /// Sets the size of the container's TTY.
    func resizeContainerTTY(_ id: String, rows: Int, columns: Int) async throws

    /// Sends `signal` (e.g. `SIGTERM`) to the container's PID 1.
    func killContainer(_ id: String, signal: String) async throws

    /// Whether the container runs, has exited, or is gone.
    func terminalContainerStatus(_ id: String) async throws -> TerminalContainerStatus
}

/// One attachment to a container's TTY. ``TerminalStream`` is the real one.
public protocol TerminalAttachment: Sendable {
    /// Pushes the output to `sink` (on an event loop, no task in between) until the attachment
    /// ends; returns then, or throws when it failed. Cancelling the caller closes it.
    func deliver(to sink: any TerminalStreamSink) async throws

    /// Writes input to the TTY without waiting, in order.
    func write(_ bytes: ByteBuffer)

    /// False while input is queued beyond the connection's high-water mark.
    var isWritable: Bool { get }

    /// Closes an attachment that was never delivered.
    func close() async
}

/// What the engine says about a terminal's container.
public enum TerminalContainerStatus: Sendable, Equatable {
    /// Running (or paused, or restarting): its output may flow again.
    case running
    /// Not running: created and never started, or exited with this code.
    case exited(code: Int, oomKilled: Bool)
    /// The engine does not know the container (removed).
    case missing
}

extension TerminalStream: TerminalAttachment {}

extension DockerClient: TerminalEngine {
    /// ``attachTerminal(_:logs:)``.
    public func attachTerminal(containerID: String, replayLogs: Bool) async throws -> any TerminalAttachment {
        try await attachTerminal(containerID, logs: replayLogs)
    }

    /// From ``inspectContainer(_:)``: `missing` when the engine answers 404.
    public func terminalContainerStatus(_ id: String) async throws -> TerminalContainerStatus {
        do {
            let state = try await inspectContainer(id).state
            if state.running || state.restarting == true || state.paused == true { return .running }
            return .exited(code: state.exitCode, oomKilled: state.oomKilled)
        } catch let error as DockerError where error.code == .notFound {
            return .missing
        }
    }
}
