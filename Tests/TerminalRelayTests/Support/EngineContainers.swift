import DockerEngine
import Foundation

/// The real engine and the test image (`scripts/test` sets both up), and TTY containers on it.
enum EngineContainers {
    static var image: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest"
    }

    static func client() async throws -> DockerClient {
        do {
            let client = try await DockerClient.connect(try DockerClient.Configuration.fromEnvironment())
            _ = try await client.inspectImage(image)
            return client
        } catch let error as DockerError where error.code == .engineUnreachable || error.code == .notFound {
            throw TestFailure(
                "the terminal relay's engine tests need a Docker engine with the test image \(image): \(error). "
                    + "Run `scripts/test`, which starts an engine and builds the image.")
        }
    }

    /// A container with a TTY and open stdin, running `command` as uid 1000 without network, its
    /// log capped (the throughput test prints tens of MB).
    static func ttyConfig(_ command: [String]) -> ContainerConfig {
        ContainerConfig(
            user: "1000:1000", attachStdin: true, attachStdout: true, attachStderr: true, tty: true,
            openStdin: true, stdinOnce: false, cmd: command, image: image, workingDir: "/",
            labels: ["dev.sandcastle.test": "relay"], networkDisabled: true,
            hostConfig: HostConfig(
                capDrop: ["ALL"], securityOpt: ["no-new-privileges:true"], networkMode: "none", pidsLimit: 64,
                logConfig: LogConfig(type: "json-file", config: ["max-size": "1m", "max-file": "1"]), init: true))
    }

    /// Creates a TTY container (started unless `start` is false), runs `body` with its id, and
    /// removes it whatever happens.
    static func with<T>(
        _ client: DockerClient, _ command: [String], start: Bool = true, _ body: (String) async throws -> T
    ) async throws -> T {
        let id = try await client.createContainer(name: nil, config: ttyConfig(command)).id
        do {
            if start { try await client.startContainer(id) }
            let result = try await body(id)
            try? await client.removeContainer(id, force: true)
            return result
        } catch {
            try? await client.removeContainer(id, force: true)
            throw error
        }
    }
}
