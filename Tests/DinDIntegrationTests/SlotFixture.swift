import DockerEngine
import Foundation
import Glibc
import SandcastleTestSupport

/// Containers with a slot directory bound at `/slot`, and scratch slots and workspaces, for the
/// tests that run inside Docker-in-Docker.
enum SlotFixture {
    static var image: String { ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest" }

    static let label = "dev.sandcastle.test.dind-proof"

    static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1e6 + Double(attoseconds) / 1e12)
    }

    static func start(
        _ client: DockerClient, value: String, slot: String, propagation: Mount.Propagation, script: String
    ) async throws -> String {
        let host = HostConfig(
            networkMode: "none",
            mounts: [Mount(type: .bind, source: slot, target: "/slot", bindOptions: .init(propagation: propagation))])
        let config = ContainerConfig(
            user: "1000:1000", cmd: ["/bin/sh", "-c", script], image: image, labels: [label: value], hostConfig: host)
        let created = try await client.createContainer(name: nil, config: config)
        try await client.startContainer(created.id)
        return created.id
    }

    static func removeContainers(_ client: DockerClient, value: String) async {
        var filters = DockerFilters()
        filters.label(label, value)
        for container in (try? await client.listContainers(all: true, filters: filters)) ?? [] {
            try? await client.removeContainer(container.id, force: true)
        }
    }

    /// A slot directory and a workspace under /var/tmp of the Docker-in-Docker container.
    struct Scratch {
        let root: String
        var id: String { (root as NSString).lastPathComponent }
        var slot: String { root + "/slot" }
        var workspace: String { root + "/workspace" }

        init() throws {
            var template = Array("/var/tmp/sandcastle-dind-proof-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw ChildProcess.Failure("mkdtemp failed: errno \(errno)") }
            root = String(cString: made)
            chmod(root, 0o755)
            for directory in [slot, workspace] {
                guard mkdir(directory, 0o755) == 0 else { throw ChildProcess.Failure("mkdir \(directory): errno \(errno)") }
            }
            // The workspace belongs to the session's uid, as the daemon's workspaces do.
            guard chown(workspace, 1000, 1000) == 0 else { throw ChildProcess.Failure("chown \(workspace): errno \(errno)") }
        }

        func remove() {
            _ = umount2(slot, Int32(MNT_DETACH))
            _ = umount2(root, Int32(MNT_DETACH))  // when a test bound it onto itself
            try? FileManager.default.removeItem(atPath: root)
        }
    }
}
