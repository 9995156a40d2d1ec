/// The uids (and, equal to them, gids) sandboxes run as: `first...last`, never 0.
///
/// Each workspace gets one uid of its own, the same in every session, so its files stay writable and
/// sandboxes do not share per-user kernel limits.
public struct UIDRange: Sendable, Hashable, CustomStringConvertible {
    public let first: UInt32
    public let last: UInt32

    /// nil unless `0 < first <= last`.
    public init?(first: UInt32, last: UInt32) {
        guard first > 0, first <= last else { return nil }
        self.first = first
        self.last = last
    }

    public var count: UInt64 { UInt64(last) - UInt64(first) + 1 }

    public func contains(_ uid: UInt32) -> Bool { (first...last).contains(uid) }

    public var description: String { "\(first)...\(last)" }

    /// The uid a workspace gets if nobody holds it yet: FNV-1a (64-bit) of the workspace name's UTF-8
    /// bytes, reduced into the range. Stable across restarts, hosts and Swift versions (unlike
    /// `Hasher`, which is seeded per process).
    public func preferredUID(forWorkspace name: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return UInt32(UInt64(first) + hash % count)
    }

    /// The order in which the store (`SessionStore.workspaceUID`) tries uids for a workspace: its preferred uid, then the next
    /// ones, wrapping at `last`, each uid once.
    ///
    /// Computed as it is iterated: a range holds up to 2^32 uids, and the store usually takes the
    /// first candidate, so nothing is allocated per candidate.
    public func candidates(forWorkspace name: String) -> UIDCandidates {
        UIDCandidates(first: UInt64(first), count: count, start: UInt64(preferredUID(forWorkspace: name) - first))
    }
}

/// The uids of a ``UIDRange`` from a starting one, wrapping around, each once (see
/// ``UIDRange/candidates(forWorkspace:)``).
public struct UIDCandidates: Sequence, Sendable {
    let first: UInt64
    let count: UInt64
    /// Offset of the first candidate from `first`.
    let start: UInt64

    public var underestimatedCount: Int { Int(clamping: count) }

    public struct Iterator: IteratorProtocol {
        let candidates: UIDCandidates
        var index: UInt64 = 0

        public mutating func next() -> UInt32? {
            guard index < candidates.count else { return nil }
            defer { index += 1 }
            return UInt32(candidates.first + (candidates.start + index) % candidates.count)
        }
    }

    public func makeIterator() -> Iterator { Iterator(candidates: self) }
}

/// The non-root identity a sandbox runs as: the workspace's uid, and a gid equal to it.
public struct WorkspaceUser: Sendable, Hashable, CustomStringConvertible {
    public let uid: UInt32
    public let gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// The workspace's own uid, with the group of the same number.
    public init(uid: UInt32) {
        self.init(uid: uid, gid: uid)
    }

    /// The engine's `User` field: `uid:gid`, numeric so no passwd entry is needed in the image.
    public var description: String { "\(uid):\(gid)" }
}
