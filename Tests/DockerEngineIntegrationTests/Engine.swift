import DockerEngine
import Foundation
import NIOCore
import Synchronization

/// The real engine the integration tests run against: `DOCKER_HOST`, or the default socket.
enum Engine {
    /// The test image built by `Images/testbox/build` (scripts/test exports its tag).
    static var image: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest"
    }

    /// A label put on every container these tests create, so a failed run leaves nothing unnamed.
    static let testLabel = "dev.sandcastle.test"

    static func client(requestTimeout: Duration = .seconds(30)) async throws -> DockerClient {
        var configuration = try DockerClient.Configuration.fromEnvironment()
        configuration.requestTimeout = requestTimeout
        do {
            let client = try await DockerClient.connect(configuration)
            do {
                _ = try await client.inspectImage(image)
            } catch let error as DockerError where error.code == .notFound {
                throw EngineSetupError(
                    message: "the test image \(image) is missing from the engine at \(configuration.endpoint). "
                        + "Build it with `Images/testbox/build`, or run the whole suite with `scripts/test`.")
            }
            return client
        } catch let error as DockerError where error.code == .engineUnreachable {
            throw EngineSetupError(
                message: "the integration tests need a Docker engine, and none answers at \(configuration.endpoint): \(error). "
                    + "Run `scripts/test` (it starts one), or start `dockerd` and set DOCKER_HOST.")
        }
    }

    /// A container config for the test image with the test label.
    static func config(_ command: [String], tty: Bool = false, openStdin: Bool = false, stdinOnce: Bool = false,
                       memory: Int64? = nil) -> ContainerConfig {
        ContainerConfig(
            user: "1000:1000", attachStdin: openStdin, attachStdout: true, attachStderr: true, tty: tty,
            openStdin: openStdin, stdinOnce: stdinOnce, cmd: command, image: image, workingDir: "/",
            labels: [testLabel: "1"], networkDisabled: true,
            hostConfig: HostConfig(
                capDrop: ["ALL"], securityOpt: ["no-new-privileges:true"], networkMode: "none",
                memory: memory, memorySwap: memory, memorySwappiness: memory == nil ? nil : 0, pidsLimit: 64,
                init: true))
    }

    /// Creates a container, runs `body`, and removes the container whatever happens.
    static func withContainer<T>(
        _ client: DockerClient, _ config: ContainerConfig, name: String? = nil,
        _ body: (String) async throws -> T
    ) async throws -> T {
        let created = try await client.createContainer(name: name, config: config)
        do {
            let result = try await body(created.id)
            try? await client.removeContainer(created.id, force: true)
            return result
        } catch {
            try? await client.removeContainer(created.id, force: true)
            throw error
        }
    }
}

struct EngineSetupError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Collects everything a stream produces, so a test can wait for output to appear while the
/// stream keeps being read (the engine stops a container's output when nobody reads it).
final class OutputCollector: Sendable {
    private final class Shared: Sendable {
        let state = Mutex<(text: String, ended: Bool, error: String?)>(("", false, nil))
    }

    private let shared = Shared()
    private let reader: Task<Void, Never>

    init<S: AsyncSequence & Sendable>(_ stream: S) where S.Element == ByteBuffer {
        let shared = self.shared
        reader = Task {
            do {
                for try await chunk in stream {
                    shared.state.withLock { $0.text += String(buffer: chunk) }
                }
                shared.state.withLock { $0.ended = true }
            } catch {
                shared.state.withLock {
                    $0.ended = true
                    $0.error = "\(error)"
                }
            }
        }
    }

    var text: String { shared.state.withLock { $0.text } }
    var ended: Bool { shared.state.withLock { $0.ended } }

    /// Waits until `predicate` holds on the output so far; fails after `timeout` with the output.
    @discardableResult
    func waitFor(
        _ what: String, timeout: Duration = .seconds(20), _ predicate: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (text, ended, error) = shared.state.withLock { ($0.text, $0.ended, $0.error) }
            if predicate(text) { return text }
            if ended || ContinuousClock.now > deadline {
                throw EngineSetupError(
                    message: "waiting for \(what): \(ended ? "the stream ended" : "timed out") (error: \(error ?? "none")); output so far: \(text.debugDescription)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func stop() {
        reader.cancel()
    }
}
