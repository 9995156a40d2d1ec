import ArgumentParser
import Foundation
import SandcastleClient

/// `sandcastle workspaces`: disk use per workspace against its limits, like `docker system df`.
struct WorkspacesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspaces",
        abstract: "Show the disk space and inodes each workspace uses against its limits.",
        discussion: """
            SIZE and FILES are what the workspace uses; LIMIT columns show "-" where there is none. \
            BACKEND is how limits are enforced: project (project quotas), image (ext4 images) or none; \
            `sandcastle doctor` says how to turn limits on.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the workspaces as the API shows them, as JSON.")
    var json = false

    @Argument(help: "Only these workspaces.")
    var names: [String] = []

    func run() async throws {
        let client = try connection.client()
        var list = try await client.workspaces()
        if !names.isEmpty { list.workspaces = list.workspaces.filter { names.contains($0.name) } }
        if json { return await Output.line(try prettyJSON(list)) }
        await Output.line(Self.table(list).rendered)
    }

    static func table(_ list: WorkspaceList) -> Table {
        var table = Table(header: ["WORKSPACE", "BACKEND", "SIZE", "LIMIT", "USE%", "FILES", "LIMIT", "SESSIONS", "STATUS"])
        var totalBytes: Int64 = 0
        for workspace in list.workspaces {
            let usage = workspace.usage
            totalBytes += usage?.bytes.used ?? 0
            table.rows.append([
                workspace.name, workspace.backend, usage.map { humanBytes($0.bytes.used) } ?? "?",
                usage?.bytes.limit.map(humanBytes) ?? "-", percent(usage?.bytes), usage.map { String($0.inodes.used) } ?? "?",
                usage?.inodes.limit.map(String.init) ?? "-", String(workspace.sessions.count), usage?.full == true ? "FULL" : "",
            ])
        }
        table.rows.append(["TOTAL", list.backend, humanBytes(totalBytes), "", "", "", "", "", ""])
        return table
    }

    static func percent(_ amount: WorkspaceUsage.Amount?) -> String {
        guard let amount, let limit = amount.limit, limit > 0 else { return "-" }
        return "\(min(999, amount.used * 100 / limit))%"
    }
}

/// `1.5GB`, `512MB`, `12kB`, `0B`: decimal units, as `docker system df` prints them.
func humanBytes(_ bytes: Int64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000, unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes)B" : String(format: value < 10 ? "%.2f" : value < 100 ? "%.1f" : "%.0f", value) + units[unit]
}
