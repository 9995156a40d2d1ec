/// One reason a session request (or the launch spec built from it) was refused.
public struct RequestProblem: Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal this is; the API maps it to an error code.
    public enum Reason: String, Sendable, CaseIterable {
        /// Not a JSON object, or a field of the wrong type.
        case malformed
        /// A field the request does not have.
        case unknownField
        /// An engine field a request can never set (`SecurityOpt`, `Sysctls`, `Runtime`, ...).
        case engineField
        case privileged
        /// Host network, PID, IPC, UTS, cgroup or user namespace.
        case hostNamespace
        /// A mount other than the workspace.
        case extraMount
        /// The Docker socket, or a directory holding it, as a mount or workspace.
        case dockerSocket
        case device
        /// A capability the profile does not grant (or a request to set capabilities directly).
        case capabilityNotGranted
        /// A request to choose the user; sessions run as their workspace's uid.
        case userOverride
        /// uid or gid 0.
        case rootUser
        case unknownProfile
        case invalidImage
        case imageNotAllowed
        case invalidWorkspace
        case invalidEnv
        case invalidCommand
        case invalidLabel
        /// A TTL or idle timeout outside 1...the profile's maximum.
        case limitOutOfRange
        case invalidSessionID
        /// A profile value the launch spec cannot use safely.
        case invalidProfile
        /// Something the profile asks for that this host cannot do yet (workspace size limits).
        case unsupported
        /// An egress entry that is malformed or wider than the profile's list.
        case egressNotAllowed
    }

    public var reason: Reason
    /// The request field (`env[3]`, `labels.team`, `Privileged`) or launch input (`workspace`, `uid`).
    public var field: String
    public var value: String?
    /// What is wrong and what to do instead.
    public var message: String

    public init(_ reason: Reason, field: String, value: String? = nil, _ message: String) {
        self.reason = reason
        self.field = field
        self.value = value.map { $0.count > 120 ? String($0.prefix(117)) + "..." : $0 }
        self.message = message
    }

    public var description: String {
        "\(field)\(value.map { " = \($0)" } ?? ""): \(message) [\(reason.rawValue)]"
    }
}

/// A session request was refused. Lists every problem found, not only the first.
public struct SessionRequestRejected: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [RequestProblem]

    public init(problems: [RequestProblem]) {
        self.problems = problems
    }

    public var reasons: Set<RequestProblem.Reason> { Set(problems.map(\.reason)) }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return "session request refused (\(count)):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
