import Foundation
import SandcastleTestSupport
import Testing

@testable import SandboxPolicy

/// The shipped policies, loaded once.
enum Shipped {
    static let policies: Result<PolicySet, PolicyLoadError> = Result { () throws(PolicyLoadError) in
        try PolicySet.load(directory: TestPaths.policies)
    }

    static func profile(_ name: String) throws -> SandboxProfile {
        try #require(try policies.get().profile(named: name))
    }
}

/// Writes a policy directory with the shipped seccomp file and the given profiles.
func policyDirectory(_ profiles: [String: String], seccomp: String? = nil) throws -> TemporaryDirectory {
    let directory = try TemporaryDirectory()
    try directory.makeDirectory("seccomp")
    let shipped = try String(contentsOfFile: TestPaths.policies + "/seccomp/sandbox.json", encoding: .utf8)
    try directory.write("seccomp/sandbox.json", seccomp ?? shipped)
    for (name, text) in profiles { try directory.write(name, text) }
    return directory
}

/// The shipped default profile's text, with `replacements` applied (each must match once).
func defaultProfileText(replacing replacements: [(String, String)] = []) throws -> String {
    var text = try String(contentsOfFile: TestPaths.policies + "/default.toml", encoding: .utf8)
    for (old, new) in replacements {
        #expect(text.components(separatedBy: old).count == 2, "\(old) must occur once in default.toml")
        text = text.replacingOccurrences(of: old, with: new)
    }
    return text
}

extension PolicyLoadError {
    func has(file suffix: String, field: String) -> Bool {
        problems.contains { $0.file.hasSuffix(suffix) && $0.field == field }
    }
}

/// Runs `body`, which must throw `PolicyLoadError`, and returns the error.
func expectLoadError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> PolicyLoadError? {
    expectError(PolicyLoadError.self, body, sourceLocation: sourceLocation)
}
