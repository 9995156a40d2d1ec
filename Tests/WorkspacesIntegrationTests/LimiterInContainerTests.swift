import Foundation
import Glibc
import SandcastleTestSupport
import Testing

@testable import Workspaces

/// Runs `LimiterInsideTests` inside a container: the only place these tests mount anything or use a
/// loop device. On the host this test creates a scratch directory and a container and reads sysfs;
/// it never mounts.
///
/// The container is the test image with the host's `/usr` (read-only: e2fsprogs, mount, setpriv,
/// the C libraries), the Swift runtime in `/opt/swift` and this test bundle, and runs the bundle
/// again with `--filter LimiterInsideTests`. It gets CAP_SYS_ADMIN (mount, loop ioctls),
/// `/dev/loop-control`, and the device cgroup rule `b 7:* rwm`; loop devices are host-global and
/// any free one may be handed out, so the container makes its own `/dev/loopN` nodes (CAP_MKNOD is
/// in Docker's default set). `--privileged` is not an option here: this host's dockerd lacks
/// CAP_SYS_RESOURCE in its bounding set, and privileged containers fail to start.
@Suite("ext4 limiter, run in a container", .requiresEngine)
struct LimiterInContainerTests {
    static let timeout: Duration = .seconds(300)
    static let loopNodes = 64

    @Test("ENOSPC at the limit, nosuid and nodev, growth, shrink and release, with real loop mounts")
    func inContainer() throws {
        try Preconditions.check()
        let scratch = try makeScratch()
        let name = "sandcastle-quota-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { cleanUp(container: name, scratch: scratch) }

        let bundle = try ChildProcess.currentExecutable
        let flags = Self.dockerFlags(name: name, scratch: scratch, bundleDirectory: (bundle as NSString).deletingLastPathComponent)
        let script =
            "i=0; while [ $i -lt \(Self.loopNodes) ]; do [ -e /dev/loop$i ] || mknod -m 0660 /dev/loop$i b 7 $i; "
            + "i=$((i+1)); done; exec \"$0\" --testing-library swift-testing --filter LimiterInsideTests"
        let started = ContinuousClock.now
        let run = try Docker.run(["run"] + flags + [Preconditions.image, "/bin/sh", "-c", script, bundle], timeout: Self.timeout)
        let elapsed = ContinuousClock.now - started
        print("in-container run took \(elapsed)")
        #expect(run.status == 0, "the container's tests failed (exit \(run.status)):\n\(run.output)")
        // A filter that matched nothing, or a suite skipped inside, would pass too: count what passed.
        let passed = SwiftTestingOutput.passedTests(in: run.output)
        #expect(passed.count == 5, "expected 5 in-container tests to pass, \(passed.count) did:\n\(run.output)")
    }

    /// The `docker run` flags, in the order the report and README quote them.
    static func dockerFlags(name: String, scratch: String, bundleDirectory: String) -> [String] {
        [
            "--rm", "--name", name, "--label", "dev.sandcastle.test=1", "--network", "none",
            "--cap-add", "SYS_ADMIN",
            "--security-opt", "apparmor=unconfined", "--security-opt", "seccomp=unconfined",
            "--device", "/dev/loop-control", "--device-cgroup-rule", "b 7:* rwm",
            "-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/usr/lib64:/lib64:ro",
            "-v", "/opt/swift:/opt/swift:ro", "-v", "\(bundleDirectory):\(bundleDirectory):ro",
            "-v", "\(scratch):\(scratch)",
            "-e", "\(InContainer.hostNamespaceVariable)=\(MountTable.namespace ?? "unknown")",
            "-e", "\(InContainer.scratchVariable)=\(scratch)",
        ]
    }

    func makeScratch() throws -> String {
        var template = Array("/tmp/sandcastle-quota-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SetupError("mkdtemp failed: errno \(errno)") }
        return String(cString: made)
    }

    /// Removes the container, and any loop device still bound to a file under `scratch` (a leak
    /// the test then reports): detached from inside another container, never from the host.
    func cleanUp(container: String, scratch: String) {
        _ = try? Docker.run(["rm", "-f", container], timeout: .seconds(60))
        let leaked = LoopDevices().devicesBacked(under: scratch + "/")
        if !leaked.isEmpty {
            Issue.record("loop devices left bound to test images: \(leaked)")
            for device in leaked {
                _ = try? Docker.run(
                    ["run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN", "--device", "/dev/\(device)",
                     Preconditions.image, "/bin/busybox", "losetup", "-d", "/dev/\(device)"], timeout: .seconds(60))
            }
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

extension LoopDevices {
    /// Loop devices bound to any file whose path starts with `prefix`.
    func devicesBacked(under prefix: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sysBlock)) ?? []
        return names.filter { $0.hasPrefix("loop") && (backingFile(of: $0)?.hasPrefix(prefix) ?? false) }.sorted()
    }
}

/// What the container test needs from the host, checked first so a missing piece fails with a
/// clear message instead of a puzzling container log.
enum Preconditions {
    static var image: String {
        ProcessInfo.processInfo.environment["SANDCASTLE_TEST_IMAGE"] ?? "sandcastle-testbox:latest"
    }

    static func check() throws {
        guard access("/dev/loop-control", F_OK) == 0 else {
            throw SetupError("the host kernel has no loop devices (/dev/loop-control): modprobe loop")
        }
        for tool in [Tool.mkfs, .fsck, .resize, .mount, .losetup] where tool.path == nil {
            throw SetupError("\(tool.name) is missing on the host (bind-mounted into the container): install \(tool.package)")
        }
        guard access("/usr/bin/setpriv", X_OK) == 0, access("/opt/swift/usr/lib/swift/linux", R_OK) == 0 else {
            throw SetupError("needs /usr/bin/setpriv (util-linux) and the Swift runtime in /opt/swift/usr/lib/swift/linux")
        }
        let inspected = try Docker.run(["image", "inspect", "--format", "{{.Id}}", image], timeout: .seconds(60))
        guard inspected.status == 0 else {
            throw SetupError(
                "the test image \(image) is not in the engine (\(inspected.output)); build it with Images/testbox/build, "
                    + "or run scripts/test")
        }
    }
}

/// The docker CLI (it honours DOCKER_HOST, as scripts/test sets it).
enum Docker {
    static func run(_ arguments: [String], timeout: Duration) throws -> (status: Int32, output: String) {
        let result = try ChildProcess.runBlocking("docker", arguments, timeout: timeout)
        return (result.status, result.output)
    }
}

struct SetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
