import Foundation
import Glibc
import Logging
import SandboxPolicy
import enum SandcastleTestSupport.ChildProcess
import Testing

@testable import Workspaces

/// A workspace root and an image directory of their own for one in-container test, and the clean-up
/// of everything mounted under them, however the test ends.
final class Scratch {
    let base: String
    let resolver: WorkspaceResolver
    let limiter: Ext4ImageWorkspaceLimiter
    static let owner = WorkspaceUser(uid: 2_000_042)

    init(_ name: String) throws {
        base = InContainer.scratch + "/" + name
        for directory in [base, base + "/workspaces", base + "/images"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // The workspace uid must be able to reach its workspace for the nosuid check; the image
        // directory stays root-only as the limiter demands.
        chmod(InContainer.scratch, 0o711)
        chmod(base, 0o711)
        chmod(base + "/workspaces", 0o711)
        chmod(base + "/images", 0o700)
        resolver = try WorkspaceResolver(root: base + "/workspaces")
        var logger = Logger(label: "quota-test")
        logger.logLevel = .info
        limiter = try Ext4ImageWorkspaceLimiter(imageDirectory: base + "/images", resolver: resolver, logger: logger)
    }

    func workspace(_ name: String = "demo") throws(WorkspaceError) -> ResolvedWorkspace {
        try resolver.resolve(name, creatingFor: Self.owner)
    }

    var table: MountTable {
        MountTable(text: FileText.read("/proc/self/mountinfo") ?? "")
    }

    /// Unmounts everything under `base`, deepest first (loop devices go with their mounts:
    /// autoclear), and removes `base`.
    deinit {
        let mounts = table.entries.map(\.mountPoint).filter { $0.hasPrefix(base + "/") }
        for mountPoint in mounts.reversed() where umount2(mountPoint, 0) != 0 {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
        }
        try? FileManager.default.removeItem(atPath: base)
    }
}

/// Runs `arguments` (the first is the program's path) and returns its exit status and output
/// (stdout and stderr).
func shell(_ arguments: [String]) throws -> ChildProcess.Result {
    try ChildProcess.runBlocking(arguments[0], Array(arguments.dropFirst()), timeout: .seconds(120))
}

/// Writes 1 MiB blocks to a new file at `path` until a write fails; returns the bytes written and
/// the errno of the failure (0 when `limit` bytes went in).
func fill(_ path: String, limit: Int64 = .max) -> (bytes: Int64, errno: Int32) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return (0, errno) }
    defer { close(fd) }
    let block = [UInt8](repeating: 0x5a, count: 1 << 20)
    var written: Int64 = 0
    while written < limit {
        let count = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if count < 0 { return (written, errno) }
        written += Int64(count)
    }
    if fsync(fd) != 0 { return (written, errno) }
    return (written, 0)
}
