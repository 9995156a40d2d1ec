import EgressPolicy
/// A request the profile allows, with what the profile decided: only `approve` makes one, so the
/// launch spec cannot be built from a request nobody checked.
public struct ApprovedSession: Sendable, Equatable {
    public let request: SessionLaunchRequest
    public let profile: SandboxProfile
    public let image: ImageReference
    /// The capabilities to add: the request's, or the profile's when it named none.
    public let capabilities: [String]
    public let ttlSeconds: Int
    public let idleTimeoutSeconds: Int
    /// Where the session may connect through the daemon's egress proxy: the profile's list, or
    /// the request's narrower one. Empty: no egress.
    public let egress: EgressAllowList
}

/// The limits a request must keep.
public enum RequestLimits {
    public static let maxEnvEntries = 256
    public static let maxEnvEntryBytes = 32 << 10
    public static let maxEnvTotalBytes = 256 << 10
    public static let maxCommandArguments = 4096
    public static let maxCommandBytes = 128 << 10
    public static let maxLabels = 64
    public static let maxLabelKeyBytes = 63
    public static let maxLabelValueBytes = 1024
}

extension PolicySet {
    /// Checks `request` against the profile it names.
    public func approve(_ request: SessionLaunchRequest) throws(SessionRequestRejected) -> ApprovedSession {
        guard let profile = profile(named: request.profile) else {
            throw SessionRequestRejected(problems: [
                RequestProblem(
                    .unknownProfile, field: "profile", value: request.profile,
                    "no such profile; known profiles: \(profiles.keys.sorted().joined(separator: ", "))")
            ])
        }
        return try profile.approve(request)
    }
}

extension SandboxProfile {
    /// Checks `request` against this profile: image, workspace name, command, env, labels,
    /// capabilities and time limits. Every problem is reported.
    public func approve(_ request: SessionLaunchRequest) throws(SessionRequestRejected) -> ApprovedSession {
        var problems: [RequestProblem] = []
        if request.profile != name {
            problems.append(
                RequestProblem(.unknownProfile, field: "profile", value: request.profile, "this is profile \"\(name)\"")
            )
        }
        let image = checkImage(request.image, problems: &problems)
        if let problem = WorkspaceName.problem(request.workspace) {
            problems.append(RequestProblem(.invalidWorkspace, field: "workspace", value: request.workspace, problem))
        } else if EngineFieldRefusal.mentionsDockerSocket(request.workspace) {
            problems.append(
                RequestProblem(
                    .dockerSocket, field: "workspace", value: request.workspace,
                    "the Docker socket is never a workspace"))
        }
        problems += RequestChecks.command(request.command)
        problems += RequestChecks.environment(request.env)
        problems += RequestChecks.labels(request.labels)
        let capabilities = checkCapabilities(request.capabilities, problems: &problems)
        let ttl = checkLimit(ttl, request.ttlSeconds, field: "ttlSeconds", problems: &problems)
        let idle = checkLimit(idleTimeout, request.idleTimeoutSeconds, field: "idleTimeoutSeconds", problems: &problems)
        let egress = checkEgress(request.egress, problems: &problems)
        if !egress.isEmpty && request.command.isEmpty {
            problems.append(
                RequestProblem(
                    .invalidCommand, field: "command",
                    "a session with egress must name its command: the egress forwarder starts it (an image's default command is not known here)"))
        }
        guard problems.isEmpty, let image, let ttl, let idle else { throw SessionRequestRejected(problems: problems) }
        return ApprovedSession(
            request: request, profile: self, image: image, capabilities: capabilities, ttlSeconds: ttl,
            idleTimeoutSeconds: idle, egress: egress)
    }

    private func checkEgress(_ requested: [String]?, problems: inout [RequestProblem]) -> EgressAllowList {
        guard let requested else { return egress }
        switch egress.narrowed(to: requested) {
        case .success(let list):
            return list
        case .failure(let error):
            for problem in error.problems {
                problems.append(
                    RequestProblem(
                        .egressNotAllowed, field: "egress[\(problem.index)]", value: requested[problem.index],
                        problem.reason))
            }
            return EgressAllowList()
        }
    }

    private func checkImage(_ text: String, problems: inout [RequestProblem]) -> ImageReference? {
        switch ImageReference.parse(text) {
        case .failure(let error):
            problems.append(RequestProblem(.invalidImage, field: "image", value: text, error.message))
            return nil
        case .success(let image):
            guard images.contains(where: { $0.matches(image) }) else {
                problems.append(
                    RequestProblem(
                        .imageNotAllowed, field: "image", value: text,
                        "profile \(name) allows only \(images.map(\.text).joined(separator: ", "))"))
                return nil
            }
            return image
        }
    }

    private func checkLimit(_ limit: SessionLimit, _ requested: Int?, field: String, problems: inout [RequestProblem])
        -> Int?
    {
        if let seconds = limit.effective(requested) { return seconds }
        problems.append(
            RequestProblem(
                .limitOutOfRange, field: field, value: requested.map(String.init),
                "must be from 1 to \(limit.maxSeconds) (profile \(name))"))
        return nil
    }

    private func checkCapabilities(_ requested: [String]?, problems: inout [RequestProblem]) -> [String] {
        guard let requested else { return capabilities }
        var granted: [String] = []
        for (index, wanted) in requested.enumerated() {
            let canonical = Capabilities.canonicalName(wanted)
            guard let canonical, capabilities.contains(canonical) else {
                let grants = capabilities.isEmpty ? "none" : capabilities.joined(separator: ", ")
                problems.append(
                    RequestProblem(
                        .capabilityNotGranted, field: "capabilities[\(index)]", value: wanted,
                        canonical == nil
                            ? "not a capability libcap knows"
                            : "profile \(name) does not grant it (it grants \(grants))"))
                continue
            }
            if !granted.contains(canonical) { granted.append(canonical) }
        }
        return granted
    }
}

/// The checks of the free-form parts of a request.
enum RequestChecks {
    static func command(_ arguments: [String]) -> [RequestProblem] {
        var problems: [RequestProblem] = []
        if arguments.count > RequestLimits.maxCommandArguments {
            problems.append(
                RequestProblem(
                    .invalidCommand, field: "command", "more than \(RequestLimits.maxCommandArguments) arguments"))
        }
        for (index, argument) in arguments.enumerated() where argument.utf8.contains(0) {
            problems.append(RequestProblem(.invalidCommand, field: "command[\(index)]", "contains a NUL byte"))
        }
        if arguments.reduce(0, { $0 + $1.utf8.count + 1 }) > RequestLimits.maxCommandBytes {
            problems.append(
                RequestProblem(
                    .invalidCommand, field: "command", "longer than \(RequestLimits.maxCommandBytes) bytes in total"))
        }
        return problems
    }

    /// Each entry `KEY=VALUE` with a key of `[A-Za-z_][A-Za-z0-9_]*`, no NUL, at most 32 KiB; at
    /// most 256 entries and 256 KiB in all; no key twice.
    static func environment(_ entries: [String]) -> [RequestProblem] {
        var problems: [RequestProblem] = []
        if entries.count > RequestLimits.maxEnvEntries {
            problems.append(
                RequestProblem(.invalidEnv, field: "env", "more than \(RequestLimits.maxEnvEntries) entries"))
        }
        var total = 0
        var seen: Set<Substring> = []
        for (index, entry) in entries.enumerated() {
            let field = "env[\(index)]"
            total += entry.utf8.count
            if entry.utf8.count > RequestLimits.maxEnvEntryBytes {
                problems.append(RequestProblem(.invalidEnv, field: field, value: entry, "longer than 32 KiB"))
            }
            if entry.utf8.contains(0) {
                problems.append(RequestProblem(.invalidEnv, field: field, value: entry, "contains a NUL byte"))
            }
            guard let equals = entry.firstIndex(of: "="), isEnvKey(entry[..<equals]) else {
                problems.append(
                    RequestProblem(
                        .invalidEnv, field: field, value: entry,
                        "must be KEY=VALUE with KEY matching [A-Za-z_][A-Za-z0-9_]*"))
                continue
            }
            if !seen.insert(entry[..<equals]).inserted {
                problems.append(
                    RequestProblem(.invalidEnv, field: field, value: entry, "sets \(entry[..<equals]) a second time"))
            }
        }
        if total > RequestLimits.maxEnvTotalBytes {
            problems.append(RequestProblem(.invalidEnv, field: "env", "longer than 256 KiB in total"))
        }
        return problems
    }

    static func isEnvKey(_ key: Substring) -> Bool {
        let bytes = Array(key.utf8)
        guard let first = bytes.first, !first.isASCIIDigit else { return false }
        return bytes.allSatisfy { $0.isASCIIAlnum || $0 == UInt8(ascii: "_") }
    }

    /// Keys `[a-z0-9][a-z0-9._-]*` up to 63 bytes, values up to 1 KiB without NUL, at most 64.
    static func labels(_ labels: [String: String]) -> [RequestProblem] {
        var problems: [RequestProblem] = []
        if labels.count > RequestLimits.maxLabels {
            problems.append(
                RequestProblem(.invalidLabel, field: "labels", "more than \(RequestLimits.maxLabels) labels"))
        }
        for key in labels.keys.sorted() {
            let bytes = Array(key.utf8)
            let validKey =
                !bytes.isEmpty && bytes.count <= RequestLimits.maxLabelKeyBytes && bytes[0].isLowerAlnum
                && bytes.allSatisfy { $0.isLowerAlnum || $0.isOne(of: "._-") }
            if !validKey {
                problems.append(
                    RequestProblem(
                        .invalidLabel, field: "labels", value: key,
                        "a label key is [a-z0-9][a-z0-9._-]*, at most 63 bytes"))
            }
            let value = labels[key] ?? ""
            if value.utf8.count > RequestLimits.maxLabelValueBytes || value.utf8.contains(0) {
                problems.append(
                    RequestProblem(
                        .invalidLabel, field: "labels.\(key)", value: value,
                        "a label value is at most 1 KiB, without NUL"))
            }
        }
        return problems
    }
}
