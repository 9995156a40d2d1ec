import Foundation

/// A workspace as `GET /v1/workspaces` shows it.
public struct Workspace: Codable, Sendable, Equatable {
    public var name: String
    /// `project`, `image` or `none`.
    public var backend: String
    public var usage: WorkspaceUsage?
    public var sessions: [String]
    public var profiles: [String]
    public var createdAt: Date
}

/// Bytes and inodes used against their limits (nil: no limit).
public struct WorkspaceUsage: Codable, Sendable, Equatable {
    public struct Amount: Codable, Sendable, Equatable {
        public var used: Int64
        public var limit: Int64?
    }

    public var bytes: Amount
    public var inodes: Amount
    public var full: Bool
}

/// `GET /v1/workspaces`.
public struct WorkspaceList: Codable, Sendable, Equatable {
    public var backend: String
    public var workspaces: [Workspace]
}

extension SandcastleClient {
    /// Maps to `GET /v1/workspaces`.
    public func workspaces() async throws -> WorkspaceList {
        try await json(.GET, "/v1/workspaces")
    }

    /// Maps to `GET /v1/workspaces/{name}`.
    public func workspace(_ name: String) async throws -> Workspace {
        try await json(.GET, "/v1/workspaces/\(try Self.pathSegment(name))")
    }
}
