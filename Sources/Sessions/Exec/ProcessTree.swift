import Foundation
import NIOPosix

/// A host process and its descendants, found through `/proc` (each process's parent is field 4 of
/// `/proc/PID/stat`), with their pids as their own pid namespace numbers them (the last field of
/// `NSpid:` in `/proc/PID/status`): what a process inside the container can signal.
enum ProcessTree {
    /// The container-namespace pids of `root` and its descendants now, parents first. The `/proc`
    /// walk reads files: it runs on NIO's blocking thread pool, never on Swift's pool.
    static func namespacePIDs(root: Int32) async -> [Int32] {
        (try? await NIOThreadPool.singleton.runIfActive {
            descendants(of: root, parents: parents()).compactMap(namespacePID(of:))
        }) ?? []
    }

    /// The innermost pid of host process `pid`; nil when it is gone.
    static func namespacePID(of pid: Int32) -> Int32? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int32($0) }
        }
        return nil
    }

    /// `root` and its descendants, parents before children.
    static func descendants(of root: Int32, parents: [Int32: Int32]) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        for (pid, parent) in parents { children[parent, default: []].append(pid) }
        var result = [root]
        var index = 0
        while index < result.count {
            result += children[result[index]] ?? []
            index += 1
        }
        return result
    }

    /// Every process's parent.
    static func parents() -> [Int32: Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [:] }
        var parents: [Int32: Int32] = [:]
        for entry in entries {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else {
                continue
            }
            // The command name (field 2) is in parentheses and may hold spaces and ')': the fields
            // after it start past the last ')'.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = Int32(fields[1]) { parents[pid] = parent }
        }
        return parents
    }
}
