import ArgumentParser
import Foundation
import NIOCore
import SandcastleClient

/// `sandcastle cp`: files and directories between this machine and a workspace, like `docker cp`.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "Copy files or directories between a session's workspace and this machine.",
        discussion: """
            One side is remote: SESSION:PATH (the session's workspace, running or not) or @WORKSPACE:PATH \
            (a workspace by name). PATH is below the workspace's top (/ is the top).
              sandcastle cp s1:/src/main.c ./main.c      a file down
              sandcastle cp ./notes.md s1:/docs/          a file up (into the directory: ends in /)
              sandcastle cp s1:/src ./src                 a directory down (unpacked with tar)
              sandcastle cp ./src s1:/src                 a directory up (the target must be new or empty)
              sandcastle cp s1:/ - > backup.tar           a tar on standard output
              sandcastle cp - s1:/ < backup.tar           a tar (plain, gzip or zstd) from standard input
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "What to copy: SESSION:PATH, @WORKSPACE:PATH, a local path, or - (a tar on standard input).")
    var source: String

    @Argument(help: "Where to: SESSION:PATH, @WORKSPACE:PATH, a local path, or - (a tar on standard output).")
    var destination: String

    @Option(help: ArgumentHelp("Compress a tar written to standard output: none, gzip or zstd.", valueName: "method"))
    var compress = "none"

    /// A path inside a workspace.
    struct Remote {
        var workspace: String
        var path: String
    }

    /// `SESSION:PATH` or `@WORKSPACE:PATH`; nil for a local path.
    static func remote(_ text: String) -> (name: String, isWorkspace: Bool, path: String)? {
        guard text != "-", !text.hasPrefix("/"), !text.hasPrefix("."), let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon])
        let path = String(text[text.index(after: colon)...])
        guard !name.isEmpty, !name.contains("/") else { return nil }
        return name.hasPrefix("@") ? (String(name.dropFirst()), true, path) : (name, false, path)
    }

    func resolve(_ client: SandcastleClient, _ spec: (name: String, isWorkspace: Bool, path: String)) async throws -> Remote {
        let workspace = spec.isWorkspace ? spec.name : try await client.session(spec.name).workspace
        return Remote(workspace: workspace, path: spec.path.isEmpty ? "/" : spec.path)
    }

    func run() async throws {
        let client = try connection.client()
        switch (Self.remote(source), Self.remote(destination)) {
        case (let from?, nil):
            try await download(client, try await resolve(client, from), to: destination)
        case (nil, let to?):
            try await upload(client, from: source, to: try await resolve(client, to))
        case (_?, _?):
            throw CLIError(.usage, "copy between two workspaces is not supported: copy to this machine first, or pipe cp ... - | cp - ...")
        case (nil, nil):
            throw CLIError(.usage, "one of SOURCE and DESTINATION must be SESSION:PATH or @WORKSPACE:PATH")
        }
    }

    func download(_ client: SandcastleClient, _ remote: Remote, to local: String) async throws {
        if local == "-" {
            return try await client.downloadArchive(workspace: remote.workspace, path: remote.path, compression: compress) { chunk in
                await Output.write(Array(chunk.readableBytesView))
            }
        }
        let entry = try await client.stat(workspace: remote.workspace, path: remote.path)
        switch entry.type {
        case "file":
            var target = local
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory.boolValue {
                target = local + "/" + (entry.name.isEmpty ? "file" : entry.name)
            }
            let partial = target + ".partial"
            let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CLIError(.failure, "cannot write \(partial): \(String(cString: strerror(errno)))") }
            do {
                try await client.readFile(workspace: remote.workspace, path: remote.path) { chunk in
                    let data = Array(chunk.readableBytesView)
                    guard await onThread({ Output.writeAll(data, to: fd) }) else {
                        throw CLIError(.failure, "cannot write \(partial): \(String(cString: strerror(errno)))")
                    }
                }
                close(fd)
            } catch {
                close(fd)
                unlink(partial)
                throw error
            }
            guard rename(partial, target) == 0 else { throw CLIError(.failure, "cannot rename \(partial) to \(target)") }
        case "directory":
            try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
            let tar = try TarProcess(["-x", "-p", "-f", "-", "-C", local])
            do {
                try await client.downloadArchive(workspace: remote.workspace, path: remote.path) { chunk in
                    let data = Array(chunk.readableBytesView)
                    guard await onThread({ Output.writeAll(data, to: tar.fd) }) else { throw CLIError(.failure, "tar -x stopped reading") }
                }
            } catch {
                _ = await tar.finish()
                throw error
            }
            guard await tar.finish() == 0 else { throw CLIError(.failure, "tar -x -C \(local) failed") }
        default:
            throw CLIError(.failure, "\(remote.path) is a \(entry.type); only files and directories are copied")
        }
    }

    func upload(_ client: SandcastleClient, from local: String, to remote: Remote) async throws {
        if local == "-" {
            let reader = ChunkReader(fd: STDIN_FILENO)
            let result = try await client.uploadArchive(workspace: remote.workspace, path: remote.path, body: reader.next)
            return await Output.error("unpacked \(result.entries) entries (\(result.bytes) bytes) into \(result.path)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory) else {
            throw CLIError(.usage, "\(local) does not exist")
        }
        if isDirectory.boolValue {
            let tar = try TarProcess(["-c", "-f", "-", "-C", local, "."], reading: true)
            let result = try await client.uploadArchive(workspace: remote.workspace, path: remote.path, body: ChunkReader(fd: tar.fd).next)
            guard await tar.finish() == 0 else { throw CLIError(.failure, "tar -c -C \(local) failed") }
            return await Output.error("unpacked \(result.entries) entries (\(result.bytes) bytes) into \(result.path)")
        }
        let fd = open(local, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError(.failure, "cannot read \(local): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let path = remote.path.hasSuffix("/") ? remote.path + URL(fileURLWithPath: local).lastPathComponent : remote.path
        _ = try await client.writeFile(workspace: remote.workspace, path: path, body: ChunkReader(fd: fd).next)
    }
}

/// Reads a descriptor in chunks, off the cooperative pool.
struct ChunkReader: Sendable {
    let fd: Int32

    @Sendable func next() async throws -> ByteBuffer? {
        let fd = fd
        let (bytes, error) = await onThread { () -> ([UInt8], Int32) in
            var buffer = [UInt8](repeating: 0, count: 256 << 10)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                return count < 0 ? ([], errno) : (Array(buffer.prefix(count)), 0)
            }
        }
        if error != 0 { throw CLIError(.failure, "reading failed: \(String(cString: strerror(error)))") }
        return bytes.isEmpty ? nil : ByteBuffer(bytes: bytes)
    }
}

/// tar(1) with a pipe to its standard input (or from its standard output, `reading`).
final class TarProcess: Sendable {
    let process = Process()
    let fd: Int32
    let pipe = Pipe()

    init(_ arguments: [String], reading: Bool = false) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tar"] + arguments
        if reading {
            process.standardOutput = pipe
            fd = pipe.fileHandleForReading.fileDescriptor
        } else {
            process.standardInput = pipe
            fd = pipe.fileHandleForWriting.fileDescriptor
        }
        try process.run()
    }

    /// Closes our end of a writing pipe and waits for tar; its exit status.
    func finish() async -> Int32 {
        if process.standardInput as? Pipe === pipe { try? pipe.fileHandleForWriting.close() }
        let process = process
        return await onThread {
            process.waitUntilExit()
            return process.terminationStatus
        }
    }
}
