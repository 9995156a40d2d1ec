import DockerEngine
import Foundation
import SandboxPolicy

/// The raw side of each comparison: the engine itself, driven with the same container
/// configuration the daemon builds for a session (``LaunchSpec``), minus the daemon.
///
/// Its containers carry only the benchmark's own labels (no `dev.sandcastle.*` ones), so that no
/// daemon's reconciliation ever mistakes them for sessions.
public struct RawEngine: Sendable {
    public static let runLabel = "dev.sandcastle-bench.run"

    public let client: DockerClient
    let profile: SandboxProfile
    let image: String
    let workspace: String
    let user: WorkspaceUser
    let runID: String

    /// - Parameters:
    ///   - workspace: an existing directory owned by the profile's first uid, mounted as the
    ///     workspace of every raw container.
    public init(client: DockerClient, profile: SandboxProfile, image: String, workspace: String, runID: String) {
        self.client = client
        self.profile = profile
        self.image = image
        self.workspace = workspace
        self.user = WorkspaceUser(uid: profile.uids.first)
        self.runID = runID
    }

    /// The same engine reached through another client (the echo section's bare relay).
    func through(_ other: DockerClient) -> RawEngine {
        RawEngine(client: other, profile: profile, image: image, workspace: workspace, runID: runID)
    }

    /// The create body the daemon would send for a session running `command`.
    public func config(command: [String], name: String) throws -> ContainerConfig {
        let request = SessionLaunchRequest(image: image, profile: profile.name, workspace: "bench", command: command)
        var config = try LaunchSpec.containerConfig(
            request: request, profile: profile, workspace: WorkspaceMount(hostPath: workspace), user: user, sessionID: name)
        config.labels = [Self.runLabel: runID]
        return config
    }

    /// Creates and starts a container running `command`; returns its id and the time create+start
    /// took.
    public func createAndStart(command: [String], name: String) async throws -> (id: String, elapsed: Duration) {
        let body = try config(command: command, name: name)
        let clock = ContinuousClock()
        let start = clock.now
        let created = try await client.createContainer(name: name, config: body)
        try await client.startContainer(created.id)
        return (created.id, clock.now - start)
    }

    /// The engine calls a session's cold launch makes, made directly: create, the read-back
    /// (inspect), the terminal's attach, start. Returns the container's id and the time until the
    /// start answered; the attach is closed after.
    public func createCheckAttachStart(command: [String], name: String) async throws -> (id: String, elapsed: Duration) {
        let body = try config(command: command, name: name)
        let clock = ContinuousClock()
        let start = clock.now
        let created = try await client.createContainer(name: name, config: body)
        do {
            _ = try await client.inspectContainer(created.id)
            let stream = try await client.attachContainer(created.id, tty: true)
            do {
                try await client.startContainer(created.id)
            } catch {
                await stream.close()
                throw error
            }
            let elapsed = clock.now - start
            await stream.close()
            return (created.id, elapsed)
        } catch {
            await remove(created.id)
            throw error
        }
    }

    /// Creates a container running `command`, attaches to its TTY, then starts it, so that no
    /// output is missed; runs `body` over the attachment, then removes the container.
    public func withAttachedContainer<Result: Sendable>(
        command: [String], name: String, _ body: (inout RawTerminal) async throws -> Result
    ) async throws -> Result {
        let created = try await client.createContainer(name: name, config: try config(command: command, name: name))
        do {
            let stream = try await client.attachContainer(created.id, tty: true)
            try await client.startContainer(created.id)
            let result = try await RawTerminal.with(stream, body)
            await remove(created.id)
            return result
        } catch {
            await remove(created.id)
            throw error
        }
    }

    /// Removes a container of this run, whatever its state; failures are ignored (the run's
    /// clean-up sweeps by label at the end).
    public func remove(_ id: String) async {
        try? await client.removeContainer(id, force: true, removeVolumes: true)
    }

    /// Removes every container left by this run.
    public func sweep() async {
        var filters = DockerFilters()
        filters.label(Self.runLabel, runID)
        guard let containers = try? await client.listContainers(all: true, filters: filters) else { return }
        for container in containers { await remove(container.id) }
    }
}
