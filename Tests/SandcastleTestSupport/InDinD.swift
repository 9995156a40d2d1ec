import Foundation
import Glibc
import Testing

/// Tests that mount (the warm pool's `rslave` slot binds) run only inside a Docker-in-Docker
/// container that `scripts/dind` starts: a privileged-enough container with a Docker engine of its
/// own, in which the test bundle runs again, so that every mount it or that engine makes is in the
/// container's mount namespace and never on the host.
///
/// A suite is written in two halves:
///
///     @Suite("pool, run in Docker-in-Docker", .enabled(if: InDinD.canLaunch))
///     struct PoolInDinDTests {
///         @Test func inside() async throws {
///             try await InDinD.expectPasses(filter: "PoolInsideTests", count: 4)
///         }
///     }
///
///     @Suite("pool, inside Docker-in-Docker", .serialized, .enabled(if: InDinD.isInside))
///     struct PoolInsideTests { ... the real tests, against DOCKER_HOST (the inner engine) ... }
///
/// On the host the first suite re-runs this test bundle inside the container with the filter and
/// expects it to pass; the second is skipped. Inside, the first is skipped and the second runs.
public enum InDinD {
    /// The host's mount namespace, set by `scripts/dind` for the command it runs.
    public static let hostNamespaceVariable = "SANDCASTLE_DIND_HOST_MNTNS"
    /// The Docker-in-Docker container's name, set by `scripts/dind`.
    public static let containerVariable = "SANDCASTLE_DIND"

    /// True in a process that `scripts/dind` started in its container: the host's mount namespace
    /// is named and differs from this process's. (`/.dockerenv` proves nothing: development hosts
    /// may be containers themselves.)
    public static var isInside: Bool {
        let environment = ProcessInfo.processInfo.environment
        guard let host = environment[hostNamespaceVariable], !host.isEmpty, environment[containerVariable] != nil,
            let own = MountTable.namespace
        else { return false }
        return host != own && getuid() == 0
    }

    /// On the host, as root (scripts/dind needs root): the half that launches the container runs.
    public static var canLaunch: Bool { !isInside && getuid() == 0 && TestEngine.isReachable }

    /// The repository this test bundle was built from.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    public static var script: String { repositoryRoot + "/scripts/dind" }

    public struct Run: Sendable {
        /// The exit status of the test bundle inside (or of scripts/dind when it failed first).
        public var status: Int32
        /// What scripts/dind and the bundle printed.
        public var output: String
        /// The lines of the tests that passed inside (`Test ... passed after ...`).
        public var passed: [String]
        public var duration: Duration
        /// Whether the host's mount table changed while it ran (engine plumbing aside).
        public var hostMounts: MountTable.Watch.Report
    }

    /// The propagation of `/` in the container (`scripts/dind --propagation`).
    public enum RootPropagation: String, Sendable {
        /// As on a host booted by systemd: an `rslave` bind of any directory works.
        case shared
        /// As on this development machine: code must make its slot directory a shared mount itself.
        case `private`
    }

    /// Runs this test bundle inside a new Docker-in-Docker container with Swift Testing's
    /// `--filter filter`, and waits for it on a thread of its own.
    ///
    /// - Parameters:
    ///   - images: images to copy into the inner engine (default: `SANDCASTLE_TEST_IMAGE`).
    ///   - environment: more variables for the bundle inside (every `SANDCASTLE_*` variable of this
    ///     process goes in anyway).
    public static func runTests(
        filter: String, images: [String] = [], environment: [String: String] = [:],
        rootPropagation: RootPropagation = .shared, timeout: Duration = .seconds(600)
    ) async throws -> Run {
        let bundle = try ChildProcess.currentExecutable
        var arguments = ["run", "--propagation", rootPropagation.rawValue]
        for image in images { arguments += ["--image", image] }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["-e", "\(name)=\(value)"] }
        // The bundle runs in place: mount its directory too when a --scratch-path put it elsewhere.
        let bundleDirectory = (bundle as NSString).deletingLastPathComponent
        if !bundleDirectory.hasPrefix(repositoryRoot + "/") { arguments += ["-v", bundleDirectory] }
        arguments += ["--", bundle, "--testing-library", "swift-testing", "--filter", filter]
        return try await run(arguments, timeout: timeout)
    }

    /// `runTests`, then records an issue unless the bundle inside exited 0, exactly `count` tests
    /// passed there (a filter that matched nothing, or a suite disabled inside, would pass too),
    /// and the host's mount table stayed as it was.
    @discardableResult
    public static func expectPasses(
        filter: String, count: Int, images: [String] = [], environment: [String: String] = [:],
        rootPropagation: RootPropagation = .shared, timeout: Duration = .seconds(600),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Run {
        let run = try await runTests(
            filter: filter, images: images, environment: environment, rootPropagation: rootPropagation, timeout: timeout)
        print("Docker-in-Docker run of \(filter): exit \(run.status), \(run.passed.count) passed, \(run.duration)")
        #expect(run.status == 0, "the tests inside Docker-in-Docker failed (exit \(run.status)):\n\(run.output)",
            sourceLocation: sourceLocation)
        #expect(run.passed.count == count,
            "expected \(count) tests to pass inside Docker-in-Docker, \(run.passed.count) did:\n\(run.output)",
            sourceLocation: sourceLocation)
        #expect(run.hostMounts.isClean, "the host's mount table changed: \(run.hostMounts)", sourceLocation: sourceLocation)
        return run
    }

    /// `scripts/dind ARGUMENTS` with the host's mount table watched meanwhile; both on a thread of
    /// their own.
    public static func run(_ arguments: [String], timeout: Duration = .seconds(600)) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let watch = MountTable.Watch()
                let result = Result {
                    try ChildProcess.runBlocking(script, arguments, workingDirectory: repositoryRoot, timeout: timeout)
                }
                let report = watch.stop()
                continuation.resume(
                    with: result.map {
                        Run(status: $0.status, output: $0.output, passed: SwiftTestingOutput.passedTests(in: $0.output),
                            duration: $0.duration, hostMounts: report)
                    })
            }
            thread.name = "scripts/dind"
            thread.start()
        }
    }
}

/// Reading what a Swift Testing run printed.
public enum SwiftTestingOutput {
    /// The lines reporting a test that passed (`✔ Test "name" passed after 0.1 seconds.`); the run's
    /// summary (`Test run with N tests ... passed`) is not one of them.
    public static func passedTests(in output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { line in
            let text = line.drop { !$0.isASCII || $0 == " " }
            return text.hasPrefix("Test ") && !text.hasPrefix("Test run with ") && text.contains(" passed after ")
        }
    }
}
