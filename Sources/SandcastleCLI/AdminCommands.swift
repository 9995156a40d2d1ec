import ArgumentParser
import Foundation
import SandcastleClient

#if canImport(Glibc)
import Glibc
#endif

struct GarbageCollect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove this daemon's orphaned containers: labelled as its own, with no session that wants them.",
        discussion: "Needs an admin key. Containers of other sandcastle daemons on the same engine are counted, never touched.")

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Only list what would be removed.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let report = try await connection.client().collectGarbage(dryRun: dryRun)
        if json { return await Output.line(try prettyJSON(report)) }
        if report.orphans.isEmpty {
            await Output.line("no orphaned containers")
        } else {
            var table = Table(header: ["CONTAINER", "NAME", "SESSION", "STATE", dryRun ? "WOULD REMOVE" : "REMOVED"])
            for orphan in report.orphans {
                table.rows.append([
                    String(orphan.id.prefix(12)), orphan.name, orphan.session ?? "-", orphan.state,
                    dryRun ? "yes" : (report.removed.contains(orphan.id) ? "yes" : "no"),
                ])
            }
            await Output.line(table.rendered)
        }
        if report.otherInstances > 0 {
            await Output.line("\(report.otherInstances) container(s) of other sandcastle daemons left alone")
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an online backup of the daemon's SQLite database to FILE (- for standard output).",
        discussion: "The daemon takes a consistent snapshot while it keeps serving. Needs an admin key. Restore: stop the daemon, copy the file to <state>/sessions.sqlite (removing sessions.sqlite-wal and -shm), start it.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "Where to write the backup.")
    var file: String

    @Flag(help: "Replace FILE if it exists.")
    var force = false

    func run() async throws {
        let client = try connection.client()
        if file == "-" {
            try await client.backup { chunk in await Output.write(Array(chunk.readableBytesView)) }
            return
        }
        if !force, FileManager.default.fileExists(atPath: file) {
            throw CLIError(.usage, "\(file) exists; pass --force to replace it")
        }
        let partial = file + ".partial"
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError(.failure, "cannot write \(partial): \(String(cString: strerror(errno)))") }
        var bytes = 0
        do {
            try await client.backup { chunk in
                let data = Array(chunk.readableBytesView)
                bytes += data.count
                guard await onThread({ Output.writeAll(data, to: fd) }) else {
                    throw CLIError(.failure, "cannot write \(partial): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            close(fd)
            unlink(partial)
            throw error
        }
        let synced = await onThread { fsync(fd) == 0 }
        close(fd)
        guard synced, rename(partial, file) == 0 else {
            unlink(partial)
            throw CLIError(.failure, "cannot finish \(file): \(String(cString: strerror(errno)))")
        }
        await Output.line("\(file): \(bytes) bytes")
    }
}
