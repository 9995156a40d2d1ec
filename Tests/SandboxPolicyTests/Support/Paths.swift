import Foundation
import Testing

/// Paths of the package the tests read: the shipped `Policies/` directory.
enum TestPaths {
    /// `Tests/SandboxPolicyTests/Support/Paths.swift` -> the package root.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let policies = packageRoot + "/Policies"
}
