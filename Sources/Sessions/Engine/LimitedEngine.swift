import DockerEngine
import Foundation
import NIOCore

/// A container engine whose calls wait for a slot of an ``EngineLimiter``: the one place where
/// Sandcastle bounds how many engine calls run at once.
///
/// The manager and the warm pool share one `LimitedEngine`, so a burst of launches and a pool
/// refill queue behind the same limit. Streams (events, logs, attach) hold a slot only while the
/// call that opens them runs, never for the stream's lifetime.
public struct LimitedEngine: ContainerEngine {
    public let base: any ContainerEngine
    public let limiter: EngineLimiter

    public init(_ base: any ContainerEngine, limit: Int) {
        self.base = base
        self.limiter = EngineLimiter(limit: limit)
    }

    public func createContainer(name: String?, config: ContainerConfig) async throws -> ContainerCreateResponse {
        try await limiter.run { try await base.createContainer(name: name, config: config) }
    }

    public func startContainer(_ id: String) async throws {
        try await limiter.run { try await base.startContainer(id) }
    }

    public func stopContainer(_ id: String, timeout: Duration) async throws {
        try await limiter.run { try await base.stopContainer(id, timeout: timeout) }
    }

    public func killContainer(_ id: String, signal: String) async throws {
        try await limiter.run { try await base.killContainer(id, signal: signal) }
    }

    public func removeContainer(_ id: String, force: Bool, removeVolumes: Bool) async throws {
        try await limiter.run { try await base.removeContainer(id, force: force, removeVolumes: removeVolumes) }
    }

    public func inspectContainer(_ id: String) async throws -> ContainerInspect {
        try await limiter.run { try await base.inspectContainer(id) }
    }

    public func listContainers(all: Bool, filters: DockerFilters) async throws -> [ContainerSummary] {
        try await limiter.run { try await base.listContainers(all: all, filters: filters) }
    }

    public func containerEvents(filters: DockerFilters, since: Date?) async throws
        -> any AsyncSequence<DockerEvent, any Error> & Sendable
    {
        try await base.containerEvents(filters: filters, since: since)
    }

    public func ping() async throws -> EnginePing {
        try await base.ping()
    }

    public func terminalLogs(_ id: String, tail: Int?) async throws -> any AsyncSequence<ByteBuffer, any Error> & Sendable {
        try await limiter.run { try await base.terminalLogs(id, tail: tail) }
    }

    public func attachTerminalStream(_ id: String) async throws -> TerminalStream {
        try await limiter.run { try await base.attachTerminalStream(id) }
    }
}
