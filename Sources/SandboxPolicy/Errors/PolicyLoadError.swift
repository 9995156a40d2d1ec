import TOMLConfig

/// One thing wrong with a policy file: which file, which field, the offending value and what to do.
public struct PolicyProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file the problem is in (a profile `.toml` or a seccomp `.json`), as the loader opened it.
    public var file: String
    /// The field, as a path into the file: `memory`, `capabilities.add[0]`, `syscalls[12].names[3]`.
    /// Empty when the problem concerns the whole file.
    public var field: String
    /// The offending value as written (shortened), when there is one.
    public var value: String?
    /// What is wrong and what to do about it.
    public var message: String
    /// The line in `file`, when the loader could tell (egress entries).
    public var line: Int?

    public init(file: String, field: String, value: String? = nil, message: String, line: Int? = nil) {
        self.file = file
        self.field = field
        self.value = value
        self.message = message
        self.line = line
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if !field.isEmpty { text += ": \(field)" }
        if let value { text += " = \(value)" }
        return text + ": \(message)"
    }
}

/// A policy directory, profile or seccomp file was refused. Lists every problem found, not only the
/// first, so one edit can fix them all.
public struct PolicyLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [PolicyProblem]

    public init(problems: [PolicyProblem]) {
        self.problems = problems
    }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return "policy refused (\(count)):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

extension ProblemLog {
    /// Every problem logged while reading policy file `file`.
    func policyProblems(file: String) -> [PolicyProblem] {
        entries.map { PolicyProblem(file: file, field: $0.field, value: $0.value, message: $0.message) }
    }
}
