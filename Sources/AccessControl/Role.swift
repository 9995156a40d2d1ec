/// Something an API key may be allowed to do. The raw values are the names the API documents.
public enum Permission: String, Sendable, Hashable, CaseIterable, Codable {
    case sessionView = "session:view"
    case sessionCreate = "session:create"
    case sessionStart = "session:start"
    case sessionStop = "session:stop"
    case sessionAttach = "session:attach"
    /// Watching a terminal: minting read-only (`ro`) attach tokens. `session:attach` is for `rw`.
    case sessionWatch = "session:watch"
    /// Runs commands in a running session (`/v1/sessions/{id}/exec`).
    case sessionExec = "session:exec"
    /// List, stat, read and download files of a workspace.
    case workspaceRead = "workspace:read"
    /// Write, move, delete and upload files of a workspace.
    case workspaceWrite = "workspace:write"
    /// Keys, the pool and everything else an operator does.
    case admin
}

/// The role an API key carries. Each role's permissions are listed explicitly, so a permission
/// added later is granted to no role until someone decides which roles get it (admin excepted).
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    /// Reads sessions and workspace files and watches terminals: `session:view`, `session:watch`,
    /// `workspace:read`.
    case viewer
    /// Runs sessions and edits their workspaces: `session:view`, `create`, `start`, `stop`, `attach`,
    /// `watch`, `exec`, `workspace:read`, `workspace:write`.
    case developer
    /// Everything, including `admin`.
    case admin

    /// Every permission this role grants.
    public var permissions: Set<Permission> {
        Set(Permission.allCases.filter(permits))
    }

    /// Whether this role grants `permission`. Every permission is listed for every role, without
    /// a default: a permission added later does not compile until each role's answer is written.
    /// A switch, not a set: a request checks one permission, and hashing its raw value cost more
    /// than the rest of the check.
    public func permits(_ permission: Permission) -> Bool {
        switch self {
        case .viewer:
            switch permission {
            case .sessionView, .sessionWatch, .workspaceRead: true
            case .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .sessionExec, .workspaceWrite, .admin: false
            }
        case .developer:
            switch permission {
            case .sessionView, .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .sessionWatch, .sessionExec,
                .workspaceRead, .workspaceWrite:
                true
            case .admin: false
            }
        case .admin: true
        }
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
