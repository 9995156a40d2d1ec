import Foundation

/// One sandbox session as the store records it.
///
/// Timestamps are `Date`s in Swift and unix milliseconds (`INTEGER`) in SQLite: sortable,
/// unambiguous, cheap to compare in SQL. A `Date` read back is rounded to the millisecond.
///
/// `env` may hold secrets. It is stored as given and never logged: `description` and the
/// reflection mirror (`dump`, test failure output) show only the variable names.
public struct Session: Sendable, Equatable {
    /// Client-supplied or generated (`SessionID.generate()`); the primary key.
    public var id: String
    /// Free-form labels; queried by `SessionStore.sessions(states:label:after:limit:)`.
    public var labels: [String: String]
    /// The API key or principal that created the session.
    public var owner: String
    /// The policy profile name.
    public var profile: String
    public var image: String
    /// The command as an argument vector.
    public var command: [String]
    /// `NAME=value` pairs. May hold secrets: never log them.
    public var env: [String]
    /// The workspace name (not a path).
    public var workspace: String
    /// The uid the workspace's sessions run as.
    public var workspaceUID: Int
    /// Deterministic container name; unique across all sessions, removed ones included.
    public var containerName: String
    /// Set once the engine has created the container; unique while set.
    public var containerID: String?
    public var state: SessionState
    public var exitCode: Int?
    public var exitReason: ExitReason?
    /// Why the session failed, in words an operator can act on.
    public var error: String?
    /// Hash of the normalised create request: same id and same hash is the same request.
    public var requestHash: String
    /// The daemon instance that created (or last restarted) the session.
    public var daemonInstance: String
    public var createdAt: Date
    /// When the session last entered `running`.
    public var startedAt: Date?
    /// When the session last entered `exited`, `failed` or `removed`.
    public var finishedAt: Date?
    /// Last input or output seen; the idle reaper reads it. Starts at `createdAt`.
    public var lastActivityAt: Date
    public var ttlSeconds: Int?
    public var idleTimeoutSeconds: Int?
    /// The warm-pool slot the session's container came from, if any.
    public var poolSlot: String?

    public init(
        id: String,
        labels: [String: String] = [:],
        owner: String,
        profile: String,
        image: String,
        command: [String],
        env: [String] = [],
        workspace: String,
        workspaceUID: Int,
        containerName: String,
        containerID: String? = nil,
        state: SessionState = .creating,
        exitCode: Int? = nil,
        exitReason: ExitReason? = nil,
        error: String? = nil,
        requestHash: String,
        daemonInstance: String,
        createdAt: Date = Date(),
        startedAt: Date? = nil,
        finishedAt: Date? = nil,
        lastActivityAt: Date? = nil,
        ttlSeconds: Int? = nil,
        idleTimeoutSeconds: Int? = nil,
        poolSlot: String? = nil
    ) {
        self.id = id
        self.labels = labels
        self.owner = owner
        self.profile = profile
        self.image = image
        self.command = command
        self.env = env
        self.workspace = workspace
        self.workspaceUID = workspaceUID
        self.containerName = containerName
        self.containerID = containerID
        self.state = state
        self.exitCode = exitCode
        self.exitReason = exitReason
        self.error = error
        self.requestHash = requestHash
        self.daemonInstance = daemonInstance
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.lastActivityAt = lastActivityAt ?? createdAt
        self.ttlSeconds = ttlSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.poolSlot = poolSlot
    }
}

extension Session: CustomStringConvertible, CustomReflectable {
    /// The names of the environment variables, without their values.
    public var envNames: [String] {
        env.map { entry in entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
    }

    public var description: String {
        var text = "Session(\(id), \(state), image: \(image), profile: \(profile), workspace: \(workspace)"
        if let containerID { text += ", container: \(containerID.prefix(12))" }
        if let exitCode { text += ", exit: \(exitCode)" }
        if let exitReason { text += " (\(exitReason))" }
        text += ", env: \(envNames) [values redacted])"
        return text
    }

    /// A mirror with `env` redacted, so `dump` and test failure output never show secrets.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "id": id, "labels": labels, "owner": owner, "profile": profile, "image": image,
                "command": command, "env": "\(envNames) [values redacted]", "workspace": workspace,
                "workspaceUID": workspaceUID, "containerName": containerName,
                "containerID": containerID as Any, "state": state, "exitCode": exitCode as Any,
                "exitReason": exitReason as Any, "error": error as Any, "requestHash": requestHash,
                "daemonInstance": daemonInstance, "createdAt": createdAt, "startedAt": startedAt as Any,
                "finishedAt": finishedAt as Any, "lastActivityAt": lastActivityAt,
                "ttlSeconds": ttlSeconds as Any, "idleTimeoutSeconds": idleTimeoutSeconds as Any,
                "poolSlot": poolSlot as Any,
            ],
            displayStyle: .struct
        )
    }
}

/// Why a session ended. An open set: the manager may add reasons without a schema change (the
/// column has no CHECK constraint), so this is a string wrapper with well-known values.
public struct ExitReason: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// The command exited by itself.
    public static let exited: ExitReason = "exited"
    /// The kernel's OOM killer ended it (`OOMKilled`, whatever the exit code).
    public static let oom: ExitReason = "oom"
    /// Killed by a signal it did not send itself.
    public static let killed: ExitReason = "killed"
    /// Removed by `DELETE`.
    public static let removed: ExitReason = "removed"
    /// The container disappeared without the daemon seeing it end.
    public static let lost: ExitReason = "lost"
    /// Its time to live ran out.
    public static let ttl: ExitReason = "ttl"
    /// Its idle timeout ran out.
    public static let idle: ExitReason = "idle"
    /// The engine restarted without live-restore and took the container with it.
    public static let engineRestart: ExitReason = "engine-restart"
    /// It never came up.
    public static let failed: ExitReason = "failed"
    /// Stopped on request.
    public static let stopped: ExitReason = "stopped"
}

/// Session identifiers: the one rule for a session id, checked once, by the API, before anything
/// is written. An id becomes part of the container's name (`sandcastle-<id>`) and of URLs.
public enum SessionID {
    /// The longest id accepted (the schema enforces it too).
    public static let maximumLength = 128
    /// The rule in words, for error messages and the OpenAPI document's pattern.
    public static let rule = "1 to 128 characters of [A-Za-z0-9._-], starting with a letter or digit"

    /// A fresh random id: 26 characters of lowercase Crockford base32, 130 random bits.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
        return String((0..<26).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// Whether a client-supplied id is acceptable: ``rule``.
    public static func isValid(_ id: String) -> Bool {
        let bytes = id.utf8
        guard let first = bytes.first, bytes.count <= maximumLength, isAlphanumeric(first) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
