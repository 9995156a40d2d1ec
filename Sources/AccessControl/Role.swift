/// Something an API key may be allowed to do. The raw values are the names the API documents.
public enum Permission: String, Sendable, Hashable, CaseIterable, Codable {
    case sessionView = "session:view"
    case sessionCreate = "session:create"
    case sessionStart = "session:start"
    case sessionStop = "session:stop"
    case sessionAttach = "session:attach"
    /// Runs commands in a running session (`/v1/sessions/{id}/exec`).
    case sessionExec = "session:exec"
    /// Keys, the pool and everything else an operator does.
    case admin
}

/// The role an API key carries. Each role's permissions are listed explicitly, so a permission
/// added later is granted to no role until someone decides which roles get it (admin excepted).
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    /// Reads sessions: `session:view`.
    case viewer
    /// Runs sessions: `session:view`, `create`, `start`, `stop`, `attach`, `exec`.
    case developer
    /// Everything, including `admin`.
    case admin

    /// Every permission this role grants.
    public var permissions: Set<Permission> {
        switch self {
        case .viewer: [.sessionView]
        case .developer: [.sessionView, .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .sessionExec]
        case .admin: Set(Permission.allCases)
        }
    }

    /// Whether this role grants `permission`.
    public func permits(_ permission: Permission) -> Bool {
        permissions.contains(permission)
    }
}

/// Who made a request: the name of the API key that authenticated it and that key's role.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    /// The key's name from the configuration: use it in logs and as the rate-limit key, never the key.
    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }

    /// Whether this principal's role grants `permission`.
    public func permits(_ permission: Permission) -> Bool {
        role.permits(permission)
    }

    public var description: String { "\(name) (\(role.rawValue))" }
}
