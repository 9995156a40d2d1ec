import GRDB
import Synchronization

/// The sessions the store wrote last, each with its row's values: a memo of decoding a row.
///
/// A transition reads its session's row back before it writes (the compare-and-set on the
/// state, and the columns to change). Right after a write of the same session (a launch's
/// `running` after its insert), the row it reads holds exactly the values that write wrote, and
/// decoding it again (three JSON columns) would only rebuild the session the write already had:
/// a quarter of a transition's instructions. So a write remembers what it wrote, and a read
/// takes the remembered session when every value of the row equals the remembered ones.
///
/// The entry is checked against the row, never trusted: a write that did not go through here
/// (another connection, a raw statement) or one rolled back with its transaction leaves values
/// that differ, and the row is decoded. Bounded: emptied when it holds ``capacity`` sessions,
/// more than the launches a daemon has in flight at once.
final class WrittenSessions: Sendable {
    static let capacity = 256
    private let entries = Mutex<[String: StoredSession]>([:])

    /// Remembers `stored` as the row of its session id.
    func remember(_ stored: StoredSession) {
        entries.withLock { entries in
            if entries.count >= Self.capacity, entries[stored.session.id] == nil { entries.removeAll(keepingCapacity: true) }
            entries[stored.session.id] = stored
        }
    }

    /// The session of row `values` (in `SessionColumn` order), read for session `id`, when it is
    /// the one remembered for that id; nil otherwise.
    func session(id: String, values: [DatabaseValue]) -> Session? {
        guard let stored = entries.withLock({ $0[id] }), stored.values == values else { return nil }
        return stored.session
    }
}
