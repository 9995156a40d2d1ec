import DockerEngine
import Foundation
import NIOCore
import NIOPosix
import SandboxPolicy
import Sessions
import Synchronization
import TerminalRelay

/// A container engine in memory: containers are records that are created, started, stopped and
/// removed as the engine would report them, and reported back faithfully on inspect, so the
/// launch read-back passes. It runs nothing. With it, the session manager's, the warm pool's and
/// the API's logic runs without Docker and without root.
///
/// A started container "runs" until it is stopped, killed or removed, or until a test ends it with
/// ``exit(_:code:oomKilled:)``; each change is also published as an engine event.
public final class InMemoryEngine: ContainerEngine, TerminalEngine {
    struct Container {
        var id: String
        var name: String
        var config: ContainerConfig
        var status = "created"
        var exitCode = 0
        var oomKilled = false
    }

    private struct State {
        var containers: [String: Container] = [:]
        var nextID = 0
        var subscribers: [UUID: AsyncThrowingStream<DockerEvent, any Error>.Continuation] = [:]
        var calls: [String] = []
        /// The container's ends of its terminal streams, by container id.
        var terminalEnds: [String: [Int32]] = [:]
        var tamper: (@Sendable (inout ContainerConfig) -> Void)?
        var afterNextList: (@Sendable () async -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    deinit {
        for fd in state.withLock({ $0.terminalEnds.values.flatMap { $0 } }) { close(fd) }
    }

    /// Changes each container's configuration as it is created, as an engine that does not do
    /// what it was asked would (a plugin, a patched daemon): what the launch's read-back is for.
    public func tamper(with change: @escaping @Sendable (inout ContainerConfig) -> Void) {
        state.withLock { $0.tamper = change }
    }

    /// Runs `body` once, after the next listing is taken and before it is returned: what happens
    /// meanwhile is what a real engine's answer, already on its way, would not show.
    public func afterNextList(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { $0.afterNextList = body }
    }

    /// Every call so far (`create NAME`, `start ID`, ...), in order.
    public var calls: [String] { state.withLock { $0.calls } }

    /// The ids of containers that exist now.
    public var containerIDs: [String] { state.withLock { $0.containers.keys.sorted() } }

    /// Ends a running container, as its process exiting would.
    public func exit(_ id: String, code: Int, oomKilled: Bool = false) {
        let event = state.withLock { state -> DockerEvent? in
            guard var container = state.containers[id], container.status == "running" else { return nil }
            container.status = "exited"
            container.exitCode = code
            container.oomKilled = oomKilled
            state.containers[id] = container
            return Self.event("die", container)
        }
        if let event { publish(event) }
    }

    // MARK: - ContainerEngine

    public func createContainer(name: String?, config: ContainerConfig) async throws -> ContainerCreateResponse {
        try state.withLock { state in
            state.calls.append("create \(name ?? "")")
            if let name, state.containers.values.contains(where: { $0.name == name }) {
                throw DockerError(code: .conflict, method: "POST", path: "/containers/create", status: 409, detail: "the name \(name) is already in use")
            }
            state.nextID += 1
            let id = String(format: "%064x", state.nextID)
            var config = config
            state.tamper?(&config)
            state.containers[id] = Container(id: id, name: name ?? id, config: config)
            return try Self.decode(ContainerCreateResponse.self, ["Id": id, "Warnings": [String]()])
        }
    }

    public func startContainer(_ id: String) async throws {
        let event = try change(id, "start") { container in
            container.status = "running"
            return "start"
        }
        if let event { publish(event) }
    }

    public func stopContainer(_ id: String, timeout: Duration) async throws {
        try end(id, call: "stop", exitCode: 143)
    }

    public func killContainer(_ id: String, signal: String) async throws {
        try end(id, call: "kill \(signal)", exitCode: 137)
    }

    public func removeContainer(_ id: String, force: Bool, removeVolumes: Bool) async throws {
        let events = try state.withLock { state -> [DockerEvent] in
            state.calls.append("remove \(id)")
            guard let key = Self.key(id, in: state.containers) else { throw Self.notFound(id) }
            let container = state.containers.removeValue(forKey: key)!
            for fd in state.terminalEnds.removeValue(forKey: key) ?? [] { close(fd) }
            return container.status == "running" ? [Self.event("die", container), Self.event("destroy", container)]
                : [Self.event("destroy", container)]
        }
        for event in events { publish(event) }
    }

    public func inspectContainer(_ id: String) async throws -> ContainerInspect {
        try state.withLock { state in
            guard let key = Self.key(id, in: state.containers), let container = state.containers[key] else {
                throw Self.notFound(id)
            }
            return try Self.inspect(container)
        }
    }

    public func listContainers(all: Bool, filters: DockerFilters) async throws -> [ContainerSummary] {
        let (listing, after) = try state.withLock { state in
            let listing = try state.containers.values.sorted { $0.id < $1.id }.filter { container in
                (all || container.status == "running") && Self.matches(container, filters)
            }.map { container in
                try Self.decode(
                    ContainerSummary.self,
                    [
                        "Id": container.id, "Names": ["/" + container.name], "State": container.status,
                        "Labels": container.config.labels ?? [:],
                    ])
            }
            defer { state.afterNextList = nil }
            return (listing, state.afterNextList)
        }
        await after?()
        return listing
    }

    public func containerEvents(filters: DockerFilters, since: Date?) async throws
        -> any AsyncSequence<DockerEvent, any Error> & Sendable
    {
        let (stream, continuation) = AsyncThrowingStream<DockerEvent, any Error>.makeStream()
        let id = UUID()
        state.withLock { $0.subscribers[id] = continuation }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) } }
        return stream
    }

    public func ping() async throws -> EnginePing {
        EnginePing(apiVersion: nil, osType: "linux")
    }

    public func terminalLogs(_ id: String, tail: Int?) async throws -> any AsyncSequence<ByteBuffer, any Error> & Sendable {
        _ = try await inspectContainer(id)
        return AsyncThrowingStream<ByteBuffer, any Error> { $0.finish() }
    }

    /// One end of a socket pair; the container's end is held open, silent, until the container
    /// is removed or the engine goes away.
    public func attachTerminalStream(_ id: String) async throws -> TerminalStream {
        _ = try await inspectContainer(id)
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw DockerError(code: .transport, method: "POST", path: "/containers/\(id)/attach", detail: "socketpair failed")
        }
        state.withLock { $0.terminalEnds[id, default: []].append(fds[1]) }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .withConnectedSocket(fds[0]) { channel in
                channel.eventLoop.makeCompletedFuture { try TerminalStream.adopting(channel) }
            }
        return channel
    }

    // MARK: - TerminalEngine

    /// A socket pair, as ``attachTerminalStream(_:)``.
    public func attachTerminal(containerID: String, replayLogs: Bool) async throws -> any TerminalAttachment {
        try await attachTerminalStream(containerID)
    }

    public func resizeContainerTTY(_ id: String, rows: Int, columns: Int) async throws {
        _ = try await inspectContainer(id)
    }

    public func terminalContainerStatus(_ id: String) async throws -> TerminalContainerStatus {
        do {
            let state = try await inspectContainer(id).state
            return state.running ? .running : .exited(code: state.exitCode, oomKilled: state.oomKilled)
        } catch let error as DockerError where error.code == .notFound {
            return .missing
        }
    }

    // MARK: - Helpers

    /// Applies `body` to container `id`; returns the event it produced, if any.
    private func change(_ id: String, _ call: String, _ body: (inout Container) -> String?) throws -> DockerEvent? {
        try state.withLock { state in
            state.calls.append("\(call.split(separator: " ").first ?? "") \(id)")
            guard let key = Self.key(id, in: state.containers), var container = state.containers[key] else {
                throw Self.notFound(id)
            }
            let action = body(&container)
            state.containers[key] = container
            return action.map { Self.event($0, container) }
        }
    }

    /// Ends a running container the way a signal would: exit code `exitCode`, a `die` event.
    private func end(_ id: String, call: String, exitCode: Int) throws {
        let event = try change(id, call) { container in
            guard container.status == "running" else { return nil }
            container.status = "exited"
            container.exitCode = exitCode
            return "die"
        }
        if let event { publish(event) }
    }

    private func publish(_ event: DockerEvent) {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield(event) }
    }

    /// A container by id, id prefix or name, as the engine resolves references.
    private static func key(_ reference: String, in containers: [String: Container]) -> String? {
        if containers[reference] != nil { return reference }
        return containers.values.first { $0.name == reference || $0.name == "/" + reference }?.id
            ?? containers.keys.first { reference.count >= 12 && $0.hasPrefix(reference) }
    }

    private static func notFound(_ reference: String) -> DockerError {
        DockerError(code: .notFound, method: "GET", path: "/containers/\(reference)/json", status: 404, detail: "No such container: \(reference)")
    }

    private static func matches(_ container: Container, _ filters: DockerFilters) -> Bool {
        let labels = container.config.labels ?? [:]
        return (filters.values["label"] ?? []).allSatisfy { filter in
            let parts = filter.split(separator: "=", maxSplits: 1).map(String.init)
            guard let value = labels[parts[0]] else { return false }
            return parts.count == 1 || value == parts[1]
        }
    }

    private static func event(_ action: String, _ container: Container) -> DockerEvent {
        var attributes = container.config.labels ?? [:]
        attributes["name"] = container.name
        if action == "die" { attributes["exitCode"] = String(container.exitCode) }
        // Force-unwrapped: the object below is always a valid event.
        return try! decode(
            DockerEvent.self, ["Type": "container", "Action": action, "Actor": ["ID": container.id, "Attributes": attributes]])
    }

    /// The inspect response the engine would give: the create body read back, the bind mounts as
    /// the engine reports them, and the state.
    private static func inspect(_ container: Container) throws -> ContainerInspect {
        let encoder = JSONEncoder()
        var config = container.config
        var hostConfig = config.hostConfig ?? HostConfig()
        config.hostConfig = nil
        // The engine fills in its defaults for what the body left unset.
        if hostConfig.maskedPaths == nil { hostConfig.maskedPaths = ReadBack.requiredMaskedPaths.sorted() }
        if hostConfig.readonlyPaths == nil { hostConfig.readonlyPaths = ReadBack.requiredReadonlyPaths.sorted() }
        let mounts: [[String: Any]] = (hostConfig.mounts ?? []).map { mount in
            [
                "Type": mount.type.rawValue, "Source": mount.source ?? "", "Destination": mount.target,
                "RW": !(mount.readOnly ?? false), "Propagation": mount.bindOptions?.propagation?.rawValue ?? "rprivate",
            ]
        }
        let object: [String: Any] = [
            "Id": container.id, "Name": "/" + container.name,
            "State": [
                "Status": container.status, "Running": container.status == "running", "OOMKilled": container.oomKilled,
                "ExitCode": container.exitCode,
            ],
            "Config": try JSONSerialization.jsonObject(with: encoder.encode(config)),
            "HostConfig": try JSONSerialization.jsonObject(with: encoder.encode(hostConfig)),
            "Mounts": mounts,
        ]
        return try decode(ContainerInspect.self, object)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ object: [String: Any]) throws -> T {
        try JSONDecoder().decode(type, from: JSONSerialization.data(withJSONObject: object))
    }
}
