#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOPosix

/// Kills a host process and its descendants, found through `/proc` (each process's parent is
/// field 4 of `/proc/PID/stat`).
enum ProcessTree {
    /// SIGKILL to `root` and every descendant it has now; returns how many were signalled. The
    /// `/proc` walk reads files: it runs on NIO's blocking thread pool, never on Swift's pool.
    static func killBlocking(root: Int32) async -> Int {
        (try? await NIOThreadPool.singleton.runIfActive { kill(root: root) }) ?? 0
    }

    static func kill(root: Int32) -> Int {
        // Stop first so that no process forks or is reparented while the tree is read.
        let tree = descendants(of: root, parents: parents())
        for pid in tree { _ = Glibc.kill(pid, SIGSTOP) }
        let again = descendants(of: root, parents: parents())
        var signalled = 0
        for pid in Set(tree).union(again) where Glibc.kill(pid, SIGKILL) == 0 { signalled += 1 }
        return signalled
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
