/// The lifecycle state of a session, and the table of legal moves between states.
///
/// The table is the single source of truth for what `SessionStore.transition` accepts; the store
/// refuses any move not listed here, whatever the caller's `from` set says.
///
/// ```
/// creating -> starting | failed | exited | removed
/// starting -> running  | failed | exited | stopping | removed
/// running  -> stopping | exited | removed
/// stopping -> exited   | removed
/// exited   -> starting (restart) | removed
/// failed   -> removed
/// removed  -> (terminal)
/// ```
///
/// Why these and no others:
/// - `failed` means the daemon could not bring the session up (create, start or inspect refused,
///   the policy read-back differed). Once a container has run, its end is `exited` with a reason
///   (`oom`, `killed`, `lost`, `ttl`...), so `running -> failed` does not exist.
/// - `creating -> exited` covers a container that the engine reports gone before the daemon
///   started it (engine restart during launch: reason `lost`).
/// - A state never moves to itself: repeated notifications (two `die` events for one container)
///   are refused, which makes event handling idempotent for free.
/// - `stopping` does not go back to `running`: a stop that fails is retried or ends in `exited`.
/// - `removed` is terminal; the row stays as history and its events outlive it.
///
/// The raw values are stored in the `session.state` column, whose CHECK constraint lists them.
/// Adding a case needs a migration that rebuilds the table (SQLite cannot alter a CHECK); a test
/// inserts every case to catch a case added without one.
public enum SessionState: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case creating
    case starting
    case running
    case stopping
    case exited
    case removed
    case failed

    /// The states this state may move to.
    public var successors: Set<SessionState> {
        switch self {
        case .creating: [.starting, .failed, .exited, .removed]
        case .starting: [.running, .failed, .exited, .stopping, .removed]
        case .running: [.stopping, .exited, .removed]
        case .stopping: [.exited, .removed]
        case .exited: [.starting, .removed]
        case .failed: [.removed]
        case .removed: []
        }
    }

    /// Whether `self -> next` is a legal move.
    public func canTransition(to next: SessionState) -> Bool {
        successors.contains(next)
    }

    /// No move leaves this state.
    public var isTerminal: Bool { successors.isEmpty }

    /// A container may exist and be running (or about to run) for a session in this state:
    /// the states that reconciliation checks against the engine.
    public var mayHaveLiveContainer: Bool {
        switch self {
        case .creating, .starting, .running, .stopping: true
        case .exited, .removed, .failed: false
        }
    }

    /// The states whose sessions may hold a live container (see `mayHaveLiveContainer`).
    public static let live: Set<SessionState> = Set(allCases.filter(\.mayHaveLiveContainer))

    public var description: String { rawValue }
}
