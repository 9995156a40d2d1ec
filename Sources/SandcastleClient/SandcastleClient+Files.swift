import Foundation
import NIOCore

/// One entry of a workspace, as `GET .../files/{path}?stat` shows it.
public struct WorkspaceEntry: Codable, Sendable {
    public var name: String
    public var path: String
    public var type: String
    public var size: Int64
    public var mode: String
    public var mtime: String
    public var linkTarget: String?
    public var etag: String?
}

/// What an archive upload unpacked.
public struct UnpackedArchive: Codable, Sendable {
    public var path: String
    public var entries: Int
    public var bytes: Int64
}

extension SandcastleClient {
    /// `GET /v1/workspaces/{name}/files/{path}?stat`.
    public func stat(workspace: String, path: String) async throws -> WorkspaceEntry {
        try await json(.GET, try Self.workspaceRoute(workspace, "files", path) + "?stat")
    }

    /// `GET /v1/workspaces/{name}/files/{path}`: the file's bytes, streamed to `onChunk`.
    public func readFile(workspace: String, path: String, onChunk: (ByteBuffer) async throws -> Void) async throws {
        try await stream(.GET, try Self.workspaceRoute(workspace, "files", path), onChunk: onChunk)
    }

    /// `GET /v1/workspaces/{name}/archive/{path}`: the directory as a tar stream.
    public func downloadArchive(
        workspace: String, path: String, compression: String = "none", onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        try await stream(.GET, try Self.workspaceRoute(workspace, "archive", path) + "?compression=\(compression)", onChunk: onChunk)
    }

    /// `PUT /v1/workspaces/{name}/files/{path}?parents=true`: writes the file atomically from
    /// `body`'s chunks (nil ends it).
    public func writeFile(workspace: String, path: String, body: @escaping @Sendable () async throws -> ByteBuffer?) async throws
        -> WorkspaceEntry
    {
        try decode(try await call(.PUT, try Self.workspaceRoute(workspace, "files", path) + "?parents=true", upload: body))
    }

    /// `PUT /v1/workspaces/{name}/archive/{path}`: unpacks the tar from `body` into the directory.
    public func uploadArchive(workspace: String, path: String, body: @escaping @Sendable () async throws -> ByteBuffer?) async throws
        -> UnpackedArchive
    {
        try decode(try await call(.PUT, try Self.workspaceRoute(workspace, "archive", path), upload: body))
    }

    /// `/v1/workspaces/{name}/{kind}/{path}`, the path percent-encoded byte by byte.
    static func workspaceRoute(_ workspace: String, _ kind: String, _ path: String) throws -> String {
        let name = try pathSegment(workspace)
        var encoded = ""
        for byte in path.utf8 {
            let plain = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "-._~/".utf8.contains(byte)
            encoded += plain ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }
        let trimmed = encoded.hasPrefix("/") ? String(encoded.dropFirst()) : encoded
        return "/v1/workspaces/\(name)/\(kind)" + (trimmed.isEmpty ? "" : "/" + trimmed)
    }
}
