import DockerEngine
import Foundation

/// The real engine and test image, as `scripts/test` sets them up.
enum TestEngine {
    static var image: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle/testbox:latest"
    }

    /// The checkout this test file is in.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func client() async throws -> DockerClient {
        let configuration = try DockerClient.Configuration.fromEnvironment()
        do {
            let client = try await DockerClient.connect(configuration)
            _ = try await client.inspectImage(image)
            return client
        } catch let error as DockerError where error.code == .engineUnreachable || error.code == .notFound {
            throw SetupError(
                description: "the sandbox integration tests need a Docker engine with the test image \(image): \(error). "
                    + "Run `scripts/test`, which starts an engine and builds the image.")
        }
    }

    /// A fresh directory under the system's temporary directory (absolute, no symlinks).
    static func temporaryDirectory(_ prefix: String) throws -> String {
        let path = "/tmp/sandcastle-\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }
}
