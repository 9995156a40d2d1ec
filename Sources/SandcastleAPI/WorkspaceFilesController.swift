import AccessControl
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import Sessions
import Workspaces

/// `/v1/workspaces/{name}/files/{path}` and `/v1/workspaces/{name}/archive/{path}`: the files of a
/// workspace, whether or not a session runs on it. Viewers read (`workspace:read`), developers
/// write (`workspace:write`). Paths are percent-encoded bytes below the workspace's top; every
/// operation is done by `Workspaces` from descriptors on a thread pool (archives on a thread of
/// their own), never following a symlink.
struct WorkspaceFilesController {
    let dependencies: APIDependencies
    var files: WorkspaceFiles { dependencies.manager.workspaceFiles }
    /// Files up to this size are read in one hop to the thread pool and sent as one buffer.
    static let readChunk = 1 << 20
    /// Archive streams running at once, across all workspaces.
    static let archiveThreads = ThreadSlots(limit: 8)

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        for route in ["workspaces/{name}/files", "workspaces/{name}/files/**"] {
            group.get(RouterPath(route), use: get)
            group.head(RouterPath(route), use: head)
            group.put(RouterPath(route), use: put)
            group.post(RouterPath(route), use: post)
            group.delete(RouterPath(route), use: delete)
        }
        for route in ["workspaces/{name}/archive", "workspaces/{name}/archive/**"] {
            group.get(RouterPath(route), use: download)
            group.put(RouterPath(route), use: upload)
        }
    }

    // MARK: files

    /// `GET`: the file's bytes (`Range`, `ETag`); `?stat`: its metadata; `?list[&limit&cursor]`: a
    /// page of a directory.
    @Sendable func get(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceRead)
        let (name, path) = try target(request, context, marker: "files")
        let query = request.uri.queryParameters
        if query.has("list") {
            var limit = files.limits.maxPageEntries
            if let text = query["limit"].map(String.init) {
                guard let value = Int(text), (1...files.limits.maxPageEntries).contains(value) else {
                    throw APIError.invalid("limit must be 1 to \(files.limits.maxPageEntries)")
                }
                limit = value
            }
            var after: [UInt8]?
            if let cursor = query["cursor"].map(String.init) {
                guard let bytes = ByteEncoding.bytes(fromBase64URL: cursor[...]) else { throw APIError.invalid("cursor is not one this daemon issued") }
                after = bytes
            }
            let (files, start, count) = (files, after, limit)
            let page = try await blocking { try files.workspace(name).list(path, after: start, limit: count) }
            let next = page.more ? page.entries.last.map { ByteEncoding.base64URL($0.name) } : nil
            return try json(
                DirectoryListing(path: path.description, entries: page.entries.map { FileRepresentation($0, in: path) }, next: next),
                context: context)
        }
        if query.has("stat") {
            let files = files
            let info = try await blocking { try files.workspace(name).stat(path) }
            return try json(FileRepresentation(info, in: path.parent), context: context, etag: info.etag)
        }
        // One hop to the thread pool opens the file and, when the part asked for is small, reads it.
        let (files, header) = (files, request.headers[.range])
        let (file, range, buffer) = try await blocking { () throws -> (OpenFile, ByteRange, ByteBuffer?) in
            let file = try files.workspace(name).openForReading(path)
            let range = header.map { ByteRange.parse($0, size: file.info.size) } ?? .whole
            guard let wanted = range.bytes(of: file.info.size), wanted.count <= Self.readChunk else { return (file, range, nil) }
            return (file, range, try Self.readChunk(file, at: wanted.lowerBound, count: Int(wanted.count)))
        }
        return try read(file, range: range, header: header, buffer: buffer)
    }

    /// `HEAD`: what `GET` of the file would answer (`ETag`, `Content-Length`, `Accept-Ranges`),
    /// without the body and without reading it.
    @Sendable func head(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceRead)
        let (name, path) = try target(request, context, marker: "files")
        let files = files
        let file = try await blocking { try files.workspace(name).openForReading(path) }
        var headers = Self.fileHeaders(file)
        headers[.contentLength] = String(file.info.size)
        return Response(status: .ok, headers: headers, body: ResponseBody())
    }

    private static func fileHeaders(_ file: OpenFile) -> HTTPFields {
        var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
        headers[.eTag] = file.info.etag
        return headers
    }

    /// The response for `range` of `file`: `buffer` when it was read already, else streamed.
    private func read(_ file: OpenFile, range: ByteRange, header: String?, buffer: ByteBuffer?) throws -> Response {
        let size = file.info.size
        var headers = Self.fileHeaders(file)
        var status = HTTPResponse.Status.ok
        switch range {
        case .whole: break
        case .part(let part):
            status = .partialContent
            headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound - 1)/\(size)"
        case .unsatisfiable:
            var error = APIError(.rangeNotSatisfiable, "range_not_satisfiable", "the file has \(size) bytes; \(header ?? "") is outside it")
            error.headers[.contentRange] = "bytes */\(size)"
            throw error
        }
        if let buffer { return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer)) }
        let wanted = range.bytes(of: size) ?? 0..<0  // unsatisfiable was thrown above
        let body = ResponseBody(contentLength: Int(wanted.count)) { writer in
            var offset = wanted.lowerBound
            while offset < wanted.upperBound {
                let want = Int(min(Int64(Self.readChunk), wanted.upperBound - offset))
                let start = offset
                let buffer = try await NIOThreadPool.singleton.runIfActive { try Self.readChunk(file, at: start, count: want) }
                try await writer.write(buffer)
                offset += Int64(buffer.readableBytes)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// Reads `count` bytes at `offset`; a file that shrank meanwhile is padded with zeros up to
    /// the length already promised.
    private static func readChunk(_ file: OpenFile, at offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            var done = 0
            while done < count {
                let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[done..<count]), at: offset + Int64(done))
                if got == 0 {
                    UnsafeMutableRawBufferPointer(rebasing: raw[done..<count]).initializeMemory(as: UInt8.self, repeating: 0)
                    return count
                }
                done += got
            }
            return count
        }
        return buffer
    }

    /// `PUT`: writes the body atomically. `If-Match: <etag>|*` and `If-None-Match: *` guard
    /// against overwriting someone else's change (409); `?parents=true` makes missing directories;
    /// `?sync=true` answers only once the file and its name are on disk.
    @Sendable func put(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceWrite)
        let (name, path) = try target(request, context, marker: "files")
        let limit = files.limits.maxWriteBytes
        if let length = request.headers[.contentLength].flatMap(Int64.init), length > limit {
            throw APIError(.contentTooLarge, "too_large", "workspace \(name): \(path): the body has \(length) bytes; files are limited to \(limit)")
        }
        let precondition: WritePrecondition
        if let tag = request.headers[.ifMatch] {
            precondition = .ifMatch(tag.trimmingCharacters(in: .whitespaces))
        } else if let tag = request.headers[.ifNoneMatch] {
            guard tag.trimmingCharacters(in: .whitespaces) == "*" else { throw APIError.invalid("If-None-Match accepts only *") }
            precondition = .ifNoneMatchAny
        } else {
            precondition = .none
        }
        let parents = try flag(request, "parents")
        let durable = try flag(request, "sync")
        let files = files
        // The body is gathered in memory up to `readChunk` bytes: a body that fits (most do) is
        // written in one hop to the thread pool that also creates and commits the file.
        let expected = request.headers[.contentLength].flatMap(Int.init) ?? 0
        var gathered = ByteBuffer()
        gathered.reserveCapacity(min(max(expected, 0), Self.readChunk))
        var pending: PendingWrite?
        for try await chunk in request.body {
            gathered.writeImmutableBuffer(chunk)
            if gathered.readableBytes > Self.readChunk {
                let (full, started) = (gathered, pending)
                gathered = ByteBuffer()
                gathered.reserveCapacity(Self.readChunk)
                pending = try await blocking {
                    let write = try started ?? files.workspace(name).beginWrite(path, parents: parents)
                    try full.withUnsafeReadableBytes { try write.write($0) }
                    return write
                }
            }
        }
        let (rest, started) = (gathered, pending)
        let (info, created) = try await blocking {
            let write = try started ?? files.workspace(name).beginWrite(path, parents: parents)
            try rest.withUnsafeReadableBytes { try write.write($0) }
            return try write.commit(precondition, durable: durable)
        }
        return try json(FileRepresentation(info, in: path.parent), status: created ? .created : .ok, context: context, etag: info.etag)
    }

    /// `POST ?action=mkdir[&parents=true]` or `?action=move&to=PATH[&overwrite=true][&parents=true]`.
    @Sendable func post(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceWrite)
        let (name, path) = try target(request, context, marker: "files")
        let query = request.uri.queryParameters
        let parents = try flag(request, "parents")
        let files = files
        switch query["action"].map(String.init) {
        case "mkdir":
            let info = try await blocking { try files.workspace(name).makeDirectory(path, parents: parents) }
            return try json(FileRepresentation(info, in: path.parent), status: .created, context: context)
        case "move":
            guard let to = query["to"].map(String.init) else { throw APIError.invalid("action=move needs to=PATH (the destination)") }
            let destination = try pathError(name) { () throws(WorkspaceFileError) in try WorkspacePath(to) }
            let overwrite = try flag(request, "overwrite")
            let info = try await blocking {
                try files.workspace(name).move(path, to: destination, overwrite: overwrite, parents: parents)
            }
            return try json(FileRepresentation(info, in: destination.parent), context: context, etag: info.etag)
        default:
            throw APIError.invalid("action must be mkdir or move")
        }
    }

    /// `DELETE[?recursive=true]`: 204. A directory only with `recursive`; the workspace's top is
    /// then emptied, not removed.
    @Sendable func delete(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceWrite)
        let (name, path) = try target(request, context, marker: "files")
        let recursive = try flag(request, "recursive")
        let files = files
        try await blocking { try files.workspace(name).delete(path, recursive: recursive) }
        return Response(status: .noContent)
    }

    // MARK: archives

    /// `GET /archive/{path}[?compression=none|gzip|zstd]`: the directory as a tar stream.
    @Sendable func download(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceRead)
        let (name, path) = try target(request, context, marker: "archive")
        let compression = try compression(request)
        try Self.archiveThreads.take()
        let produced = ProducedBytes()
        let files = files
        let logger = context.logger
        startArchiveThread {
            defer { Self.archiveThreads.release() }
            do {
                _ = try files.workspace(name).writeArchive(of: path, compression: compression, emit: produced.emit)
                produced.finish(nil)
            } catch {
                logger.debug("archive download ended", metadata: ["error": "\(error)"])
                produced.finish(error)
            }
        }
        // Wait for the first chunk (or the end) so a refusal before any byte is a proper error.
        let iterator = IteratorBox(produced.stream.makeAsyncIterator())
        let first: ByteBuffer?
        do { first = try await iterator.next() } catch {
            produced.cancel()
            throw apiError(error, name)
        }
        produced.taken()
        var headers: HTTPFields = [.contentType: compression.mediaType]
        headers[.contentDisposition] = "attachment; filename=\"\(name).tar\(compression == .gzip ? ".gz" : compression == .zstd ? ".zst" : "")\""
        let body = ResponseBody { writer in
            defer { produced.cancel() }
            if let first { try await writer.write(first) }
            while let chunk = try await iterator.next() {
                try await writer.write(chunk)
                produced.taken()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `PUT /archive/{path}`: unpacks the tar body (plain, gzip or zstd) into the directory, which
    /// must be missing or empty. All or nothing. 201 with what was unpacked.
    @Sendable func upload(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.workspaceWrite)
        let (name, path) = try target(request, context, marker: "archive")
        let limit = files.limits.maxArchiveBytes
        if let length = request.headers[.contentLength].flatMap(Int64.init), length > limit {
            throw APIError(.contentTooLarge, "too_large", "workspace \(name): the archive has \(length) bytes; the limit is \(limit)")
        }
        try Self.archiveThreads.take()
        let queue = ConsumedBytes()
        let files = files
        async let unpacked = onDedicatedThread {
            defer {
                queue.close()
                Self.archiveThreads.release()
            }
            return try files.workspace(name).unpackArchive(into: path, read: queue.pop)
        }
        var received: Int64 = 0
        do {
            for try await chunk in request.body {
                received += Int64(chunk.readableBytes)
                if received > limit {
                    queue.end(WorkspaceFileError(.tooLarge, path: path.description, "the archive is larger than \(limit) bytes"))
                    break
                }
                guard await queue.push(chunk) else { break }
            }
            queue.end()
        } catch {
            queue.end(error)
        }
        let summary: ArchiveSummary
        do { summary = try await unpacked } catch { throw apiError(error, name) }
        struct Unpacked: Encodable {
            var path: String
            var entries: Int
            var bytes: Int64
        }
        return try json(Unpacked(path: path.description, entries: summary.entries, bytes: summary.bytes), status: .created, context: context)
    }

    // MARK: -

    private func json(
        _ value: some Encodable, status: HTTPResponse.Status = .ok, context: SandcastleRequestContext, etag: String? = nil
    ) throws -> Response {
        var response = try SandcastleAPI.json(value, status: status, context: context)
        response.headers[.eTag] = etag
        return response
    }

    /// The workspace name and the path after `/files` or `/archive`, percent-decoded to bytes.
    private func target(_ request: Request, _ context: SandcastleRequestContext, marker: String) throws
        -> (String, WorkspacePath)
    {
        let name = try context.parameters.require("name")
        // /v1/workspaces/{name}/{marker}[/path]: the raw path, so that `//` and `%2F` are seen.
        let parts = request.uri.path.split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[4].hasPrefix(marker) else { throw APIError.notFound("no such route") }
        let rest = parts[4].dropFirst(marker.count)
        guard let bytes = Self.percentDecode(Array(rest.utf8)) else {
            throw APIError(.unprocessableContent, "invalid_path", "workspace \(name): the path has a bad percent escape")
        }
        let path = try pathError(name) { () throws(WorkspaceFileError) in try WorkspacePath(bytes: bytes) }
        return (name, path)
    }

    private func pathError<T>(_ name: String, _ body: () throws(WorkspaceFileError) -> T) throws -> T {
        do { return try body() } catch { throw Self.apiError(error, workspace: name) }
    }

    private func flag(_ request: Request, _ key: String) throws -> Bool {
        switch request.uri.queryParameters[Substring(key)].map(String.init) {
        case nil, "false", "0": return false
        case "", "true", "1": return true
        case let other?: throw APIError.invalid("\(key) must be true or false, not \(other)")
        }
    }

    private func compression(_ request: Request) throws -> ArchiveCompression {
        guard let text = request.uri.queryParameters["compression"].map(String.init) else { return .none }
        guard let compression = ArchiveCompression(rawValue: text) else {
            throw APIError.invalid("compression must be \(ArchiveCompression.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return compression
    }

    /// Runs blocking file work on NIO's thread pool; file errors become API errors.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do { return try await NIOThreadPool.singleton.runIfActive(body) } catch {
            throw apiError(error, nil)
        }
    }

    private func apiError(_ error: any Error, _ name: String?) -> any Error {
        guard let error = error as? WorkspaceFileError else { return error }
        return Self.apiError(error, workspace: name)
    }

    static func apiError(_ error: WorkspaceFileError, workspace: String?) -> APIError {
        let (status, code): (HTTPResponse.Status, String) =
            switch error.code {
            case .invalidPath: (.unprocessableContent, "invalid_path")
            case .notFound: (.notFound, "not_found")
            case .symlink: (.unprocessableContent, "symlink")
            case .notADirectory: (.unprocessableContent, "not_a_directory")
            case .isADirectory: (.conflict, "is_a_directory")
            case .notRegularFile: (.unprocessableContent, "not_a_regular_file")
            case .exists: (.conflict, "exists")
            case .notEmpty: (.conflict, "not_empty")
            case .preconditionFailed: (.conflict, "etag_mismatch")
            case .tooLarge: (.contentTooLarge, "too_large")
            case .unsafeEntry: (.unprocessableContent, "unsafe_entry")
            case .badArchive: (.unprocessableContent, "bad_archive")
            case .systemCall: (.internalServerError, "file_system_error")
            }
        return APIError(status, code, (workspace.map { "workspace \($0): " } ?? "") + error.description)
    }

    static func percentDecode(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = ByteEncoding.hexValue(bytes[index + 1]),
                    let low = ByteEncoding.hexValue(bytes[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }
}

/// The iterator of an archive download, handed from the handler to the response body writer.
/// `@unchecked Sendable`: the handler takes the first chunk and only then creates the body, which
/// alone uses it afterwards; never two tasks at once.
private final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator
    init(_ iterator: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> ByteBuffer? { try await iterator.next() }
}

/// A `Range: bytes=...` header against a file of `size` bytes: one range; several are served whole.
enum ByteRange: Equatable {
    case whole
    case part(Range<Int64>)
    case unsatisfiable

    /// The bytes to send of a file of `size` bytes; nil when unsatisfiable.
    func bytes(of size: Int64) -> Range<Int64>? {
        switch self {
        case .whole: 0..<size
        case .part(let part): part
        case .unsatisfiable: nil
        }
    }

    static func parse(_ header: String, size: Int64) -> ByteRange {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard bounds.count == 2 else { return .whole }
        if bounds[0].isEmpty {
            guard let suffix = Int64(bounds[1]), suffix > 0 else { return .whole }
            return size == 0 ? .unsatisfiable : .part(max(0, size - suffix)..<size)
        }
        guard let start = Int64(bounds[0]), start >= 0 else { return .whole }
        guard start < size else { return .unsatisfiable }
        if bounds[1].isEmpty { return .part(start..<size) }
        guard let end = Int64(bounds[1]), end >= start else { return .whole }
        return .part(start..<(min(end, size - 1) + 1))
    }
}

/// One entry as the API shows it.
struct FileRepresentation: Encodable {
    var name: String
    /// Set only when the name is not UTF-8: its bytes, base64.
    var nameBase64: String?
    var path: String
    var type: String
    var size: Int64
    /// Permission bits in octal, e.g. `0644`.
    var mode: String
    var mtime: String
    var mtimeNanoseconds: Int64
    var uid: UInt32
    var gid: UInt32
    var linkTarget: String?
    var etag: String?

    init(_ info: FileInfo, in directory: WorkspacePath) {
        let utf8 = String(validating: info.name, as: UTF8.self)
        name = utf8 ?? String(decoding: info.name, as: UTF8.self)
        nameBase64 = utf8 == nil ? Data(info.name).base64EncodedString() : nil
        path = info.name.isEmpty ? "/" : directory.appending(info.name).description
        type = info.kind.rawValue
        size = info.size
        mode = "0" + String(info.mode, radix: 8).leftPadded(to: 3)
        let seconds = Double(info.mtimeNanoseconds / 1_000_000_000) + Double(info.mtimeNanoseconds % 1_000_000_000) / 1e9
        mtime = Date(timeIntervalSince1970: seconds).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        mtimeNanoseconds = info.mtimeNanoseconds
        uid = info.uid
        gid = info.gid
        linkTarget = info.linkTarget.map { String(decoding: $0, as: UTF8.self) }
        etag = info.etag
    }
}

struct DirectoryListing: Encodable {
    var path: String
    var entries: [FileRepresentation]
    /// The cursor of the next page; absent on the last.
    var next: String?
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
