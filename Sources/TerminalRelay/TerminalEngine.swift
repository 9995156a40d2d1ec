import DockerEngine
import NIOCore

/// What a terminal needs from the container engine. ``DockerClient`` is the real implementation;
/// tests substitute a scripted one.
public protocol TerminalEngine: Sendable {
    /// Attaches to the container's TTY (stdin, stdout and stderr), runs `body` with its output and
    /// input, and closes the attachment when `body` returns or throws.
    ///
    /// - Parameter replayLogs: whether the engine first sends what the container printed before
    ///   (its log), then the live stream.
    func withTerminalAttachment(
        containerID: String, replayLogs: Bool,
        _ body: (_ output: any AsyncSequence<ByteBuffer, any Error>, _ input: any TerminalInput) async throws -> Void
    ) async throws

    /// Sets the size of the container's TTY.
    func resizeContainerTTY(_ id: String, rows: Int, columns: Int) async throws

    /// Sends `signal` (e.g. `SIGTERM`) to the container's PID 1.
    func killContainer(_ id: String, signal: String) async throws

    /// Whether the container runs, has exited, or is gone.
    func terminalContainerStatus(_ id: String) async throws -> TerminalContainerStatus
}

/// The writing half of an attachment: the container's stdin, i.e. the terminal's input.
public protocol TerminalInput: Sendable {
    func write(_ bytes: ByteBuffer) async throws
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

extension HijackedInput: TerminalInput {}

extension DockerClient: TerminalEngine {
    /// Attaches with ``attachContainer(_:tty:options:)`` (a TTY: raw output) and hands the stream's
    /// halves to `body` inside ``HijackedStream/executeThenClose(_:)``.
    public func withTerminalAttachment(
        containerID: String, replayLogs: Bool,
        _ body: (_ output: any AsyncSequence<ByteBuffer, any Error>, _ input: any TerminalInput) async throws -> Void
    ) async throws {
        let stream = try await attachContainer(
            containerID, tty: true, options: AttachOptions(stdin: true, stdout: true, stderr: true, logs: replayLogs))
        try await stream.executeThenClose { output, input in
            try await body(output, input)
        }
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
