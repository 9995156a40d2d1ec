import DockerEngine
import Logging
import SandboxPolicy
import Workspaces

/// Creates sandbox containers exactly as the policy built them, and refuses to start one that the
/// engine did not create that way.
///
/// After create the container is read back (`GET /containers/{id}/json`) and compared with the body
/// that was sent (``ReadBack/verify(inspected:expected:resolvedWorkspace:)``); the workspace
/// directory is checked to still be the one that was resolved (same device and inode, no symlink
/// swapped in). On any difference the container is removed and the launch fails naming each field.
public struct SandboxLauncher: Sendable {
    public let engine: any ContainerEngine
    let logger: Logger

    public init(engine: any ContainerEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    /// Creates the container `name` from `config` and verifies it; returns its id.
    ///
    /// - Throws: ``LaunchError`` `.policyViolation` (after removing the container) when the engine
    ///   reports anything but what was asked, `.workspaceChanged` when the workspace directory was
    ///   replaced between resolution and create; engine errors as they come.
    public func create(
        name: String, config: ContainerConfig, workspace: ResolvedWorkspace, gate: GateMount? = nil,
        egress: EgressMount? = nil
    ) async throws -> String {
        let created = try await engine.createContainer(name: name, config: config)
        do {
            try await verify(containerID: created.id, expected: config, workspace: workspace, gate: gate, egress: egress)
        } catch {
            do {
                try await engine.removeContainer(created.id, force: true, removeVolumes: true)
            } catch {
                logger.error(
                    "could not remove a container that failed verification",
                    metadata: ["container.id": "\(created.id)", "error": "\(error)"])
            }
            throw error
        }
        return created.id
    }

    /// Reads the container back and compares it with `expected`.
    public func verify(
        containerID: String, expected: ContainerConfig, workspace: ResolvedWorkspace, gate: GateMount? = nil,
        egress: EgressMount? = nil
    ) async throws {
        let inspect = try await engine.inspectContainer(containerID)
        let violations = ReadBack.verify(
            inspected: InspectedContainer(inspect), expected: expected, resolvedWorkspace: workspace.path, gate: gate,
            egress: egress)
        if !violations.isEmpty {
            throw LaunchError.policyViolation(containerID: containerID, violations: violations)
        }
        do {
            try await workspace.verifyUnchanged()
        } catch {
            throw LaunchError.workspaceChanged(containerID: containerID, detail: "\(error)")
        }
    }
}

/// Why a verified launch was refused.
public enum LaunchError: Error, Sendable, CustomStringConvertible {
    case policyViolation(containerID: String, violations: [PolicyViolation])
    case workspaceChanged(containerID: String, detail: String)

    public var description: String {
        switch self {
        case .policyViolation(let id, let violations):
            return "the engine created container \(id.prefix(12)) differently from the policy, so it was removed: "
                + violations.map(\.description).joined(separator: "; ")
        case .workspaceChanged(let id, let detail):
            return "the workspace changed between resolution and create of container \(id.prefix(12)), so it was removed: \(detail)"
        }
    }
}
