import TOMLConfig
import Foundation

/// The profiles of a policy directory (`Policies/`), all validated.
public struct PolicySet: Sendable, Equatable {
    /// The directory the profiles were loaded from.
    public let directory: String
    /// Profiles by name.
    public let profiles: [String: SandboxProfile]

    public init(directory: String, profiles: [String: SandboxProfile]) {
        self.directory = directory
        self.profiles = profiles
    }

    public func profile(named name: String) -> SandboxProfile? {
        profiles[name]
    }

    /// Loads every `*.toml` file of `directory` (not its subdirectories, not hidden files) as a
    /// profile named after the file, and every seccomp file a profile names (relative to `directory`, inside it).
    ///
    /// - Throws: `PolicyLoadError` listing every problem of every file; nothing is loaded then.
    public static func load(directory: String) throws(PolicyLoadError) -> PolicySet {
        let fileManager = FileManager.default
        let entries: [String]
        do {
            entries = try fileManager.contentsOfDirectory(atPath: directory)
        } catch {
            throw PolicyLoadError(problems: [
                PolicyProblem(
                    file: directory, field: "",
                    message: "cannot list the policy directory: \(error.localizedDescription)")
            ])
        }
        let profileFiles = entries.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }.sorted()
        var problems: [PolicyProblem] = []
        if profileFiles.isEmpty {
            problems.append(
                PolicyProblem(file: directory, field: "", message: "no profiles (*.toml) in the policy directory"))
        }
        var seccompFiles = SeccompFileCache(directory: directory)
        var profiles: [String: SandboxProfile] = [:]
        for file in profileFiles {
            let path = directory + "/" + file
            let log = ProblemLog()
            let profile = readText(path, log: log).flatMap { text -> SandboxProfile? in
                switch ConfigNode.parseTOML(text) {
                case .failure(let error):
                    log.report("", "not valid TOML at line \(error.line), column \(error.column): \(error.message)")
                    return nil
                case .success(let document):
                    return SandboxProfile.parse(
                        name: String(file.dropLast(".toml".count)), document: document, log: log
                    ) {
                        relative, field in seccompFiles.profile(relative, field: field, profileLog: log)
                    }
                }
            }
            problems += log.policyProblems(file: path).map { problem in
                var problem = problem
                if problem.field.hasPrefix("egress."), let value = problem.value, let text = FileManager.default.contents(atPath: path) {
                    problem.line = Self.line(quoting: value, in: String(decoding: text, as: UTF8.self))
                }
                return problem
            }
            if let profile { profiles[profile.name] = profile }
        }
        problems += seccompFiles.problems
        guard problems.isEmpty else { throw PolicyLoadError(problems: problems) }
        return PolicySet(directory: directory, profiles: profiles)
    }

    /// The 1-based line of the first quoted occurrence of `value` in `text`, skipping comments.
    static func line(quoting value: String, in text: String) -> Int? {
        let quoted = ["\"\(value)\"", "'\(value)'"]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if quoted.contains(where: { code.contains($0) }) { return index + 1 }
        }
        return nil
    }

    /// Reads a UTF-8 file, or reports why it could not.
    static func readText(_ path: String, log: ProblemLog) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            log.report("", "cannot read the file (missing or not readable)")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            log.report("", "not UTF-8 text")
            return nil
        }
        return text
    }
}

/// Reads and checks each seccomp file once, however many profiles name it; its problems are
/// reported once, under its own path.
private struct SeccompFileCache {
    let directory: String
    private var loaded: [String: SeccompProfile?] = [:]
    private(set) var problems: [PolicyProblem] = []

    init(directory: String) {
        self.directory = directory
    }

    mutating func profile(_ relative: String, field: String, profileLog: ProblemLog) -> SeccompProfile? {
        let components = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard !relative.hasPrefix("/"), relative.hasSuffix(".json"),
            !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else {
            profileLog.report(
                field, value: relative,
                "must be a relative path inside the policy directory, ending in .json (e.g. seccomp/sandbox.json)")
            return nil
        }
        if let cached = loaded[relative] { return cached }
        let path = directory + "/" + relative
        let log = ProblemLog()
        var profile: SeccompProfile?
        if let data = FileManager.default.contents(atPath: path) {
            profile = SeccompProfile.parse(json: data, log: log)
            if let parsed = profile {
                SeccompValidator.check(parsed, log: log)
                SeccompInvariants.check(parsed, log: log)
            }
        } else {
            log.report("", "cannot read the seccomp file (missing or not readable)")
        }
        if !log.isEmpty {
            problems += log.policyProblems(file: path)
            profile = nil
        }
        loaded[relative] = .some(profile)
        return profile
    }
}
