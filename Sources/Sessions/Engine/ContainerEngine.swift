import DockerEngine
import Foundation
import NIOCore

/// What the session manager needs from a container engine: the seam between session logic and
/// Docker. ``DockerClient`` is the real implementation; tests may substitute their own.
public protocol ContainerEngine: Sendable {
    func createContainer(name: String?, config: ContainerConfig) async throws -> ContainerCreateResponse
    func startContainer(_ id: String) async throws
    func stopContainer(_ id: String, timeout: Duration) async throws
    func killContainer(_ id: String, signal: String) async throws
    func removeContainer(_ id: String, force: Bool, removeVolumes: Bool) async throws
    func inspectContainer(_ id: String) async throws -> ContainerInspect
    func listContainers(all: Bool, filters: DockerFilters) async throws -> [ContainerSummary]
    /// Container events matching `filters`, from `since` on, until the stream breaks.
    func containerEvents(filters: DockerFilters, since: Date?) async throws -> any AsyncSequence<DockerEvent, any Error> & Sendable
    /// Whether the engine answers.
    func ping() async throws -> EnginePing
    /// The terminal output the engine logged for a TTY container: the last `tail` lines, or all.
    func terminalLogs(_ id: String, tail: Int?) async throws -> any AsyncSequence<ByteBuffer, any Error> & Sendable
    /// Attaches to a TTY container's stdin and output without replaying its log (the warm pool
    /// keeps this stream open until the slot is claimed).
    func attachTerminalStream(_ id: String) async throws -> TerminalStream
}

extension DockerClient: ContainerEngine {
    public func containerEvents(filters: DockerFilters, since: Date?) async throws
        -> any AsyncSequence<DockerEvent, any Error> & Sendable
    {
        try await events(filters: filters, since: since)
    }

    public func terminalLogs(_ id: String, tail: Int?) async throws -> any AsyncSequence<ByteBuffer, any Error> & Sendable {
        // A session's container has a TTY: its log is the raw terminal output, one stream.
        try await logs(id, tty: true, options: .init(tail: tail)).map(\.payload)
    }

    public func attachTerminalStream(_ id: String) async throws -> TerminalStream {
        try await attachTerminal(id, logs: false)
    }
}
