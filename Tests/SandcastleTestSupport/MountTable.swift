import Foundation
import Glibc
import Synchronization

/// This process's mount namespace and mount table, for tests that must prove they mount nothing on
/// the host.
public enum MountTable {
    /// The mount namespace, as `readlink /proc/self/ns/mnt` prints it (`mnt:[4026531832]`).
    public static var namespace: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let count = readlink("/proc/self/ns/mnt", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        public var mountPoint: String
        public var fileSystemType: String
        public var source: String
        public var description: String { "\(source) on \(mountPoint) type \(fileSystemType)" }

        public init(mountPoint: String, fileSystemType: String, source: String) {
            self.mountPoint = mountPoint
            self.fileSystemType = fileSystemType
            self.source = source
        }

        /// What a Docker engine adds and removes for its containers on any host, whoever runs them:
        /// root file systems (`overlay` on `.../merged`), network namespaces (`nsfs`), IPC `shm`
        /// mounts under `containers/<id>/mounts/`, and the read-only bind of runc's own binary
        /// onto a file in a container's state directory (`runtime-runc/moby/<id>/runc.XXXXXX`),
        /// there for a moment while runc starts the container or an exec in it, so that the
        /// container cannot overwrite runc through `/proc/self/exe`.
        public var isContainerPlumbing: Bool {
            (fileSystemType == "overlay" && mountPoint.hasSuffix("/merged")) || fileSystemType == "nsfs"
                || (mountPoint.contains("/containers/") && mountPoint.contains("/mounts/"))
                || (mountPoint.contains("/runtime-runc/") && mountPoint.split(separator: "/").last?.hasPrefix("runc.") == true)
        }
    }

    /// `/proc/self/mountinfo`, one entry per mount (mount point, type and source, escapes decoded).
    public static func current() -> [Entry] {
        entries(in: (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
    }

    /// The entries of a `mountinfo` text.
    public static func entries(in text: String) -> [Entry] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            return Entry(
                mountPoint: unescape(fields[4]), fileSystemType: String(fields[dash + 1]), source: unescape(fields[dash + 2]))
        }
    }

    /// Whether the mount on top at `mountPoint` is shared (`shared:N` in its optional fields), or nil
    /// when nothing is mounted there.
    public static func isShared(_ mountPoint: String) -> Bool? {
        isShared(mountPoint, in: (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
    }

    /// `isShared` in a `mountinfo` text.
    public static func isShared(_ mountPoint: String, in text: String) -> Bool? {
        let fields = text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: false) }
            .last { $0.count >= 10 && unescape($0[4]) == mountPoint }
        guard let fields, let dash = fields.firstIndex(of: "-") else { return nil }
        return fields[6..<dash].contains { $0.hasPrefix("shared:") }
    }

    /// The host's mounts other than container plumbing, as a multiset (the same mount point may
    /// carry several mounts).
    public static func hostMounts() -> [Entry: Int] {
        current().filter { !$0.isContainerPlumbing }.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }

    /// The kernel writes space, tab, newline and backslash as octal escapes.
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var index = field.utf8.startIndex
        let utf8 = field.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\\"), let end = utf8.index(index, offsetBy: 4, limitedBy: utf8.endIndex),
                let value = UInt8(String(decoding: utf8[utf8.index(after: index)..<end], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index = end
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Watches the mount table from a thread of its own (every 20 ms) until `stop()`, and reports
    /// every mount that appeared meanwhile (container plumbing aside), and how the table at the
    /// end differs from the one at the start.
    public final class Watch: Sendable {
        private let baseline: [Entry: Int]
        private let state = Mutex<(stopped: Bool, seen: Set<Entry>)>((false, []))
        private let finished = DispatchSemaphore(value: 0)

        public init() {
            baseline = MountTable.hostMounts()
            let thread = Thread { [self] in
                while !state.withLock({ $0.stopped }) {
                    let added = MountTable.hostMounts().filter { $0.value > baseline[$0.key, default: 0] }.keys
                    if !added.isEmpty { state.withLock { $0.seen.formUnion(added) } }
                    usleep(20_000)
                }
                finished.signal()
            }
            thread.name = "MountTable.Watch"
            thread.start()
        }

        public struct Report: Sendable {
            /// Mounts seen at any time while watching that were not there at the start.
            public var appeared: [Entry]
            /// Mounts at the end that were not there at the start, or the reverse.
            public var addedAtEnd: [Entry]
            public var removedAtEnd: [Entry]
            public var isClean: Bool { appeared.isEmpty && addedAtEnd.isEmpty && removedAtEnd.isEmpty }
        }

        /// Stops the watching thread (waits for it) and compares.
        public func stop() -> Report {
            state.withLock { $0.stopped = true }
            finished.wait()
            let end = MountTable.hostMounts()
            let seen = state.withLock { $0.seen }
            return Report(
                appeared: seen.sorted { $0.mountPoint < $1.mountPoint },
                addedAtEnd: end.filter { $0.value > baseline[$0.key, default: 0] }.keys.sorted { $0.mountPoint < $1.mountPoint },
                removedAtEnd: baseline.filter { $0.value > end[$0.key, default: 0] }.keys.sorted { $0.mountPoint < $1.mountPoint })
        }
    }
}
