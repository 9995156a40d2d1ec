/// What the rest of the daemon learns from the relay: the session manager counts a watched
/// session as never idle and terminal input as activity.
///
/// Calls are made where the change happens, on an event loop or a viewer's task, after the
/// terminal's lock is released: an implementation must return at once and never block or wait
/// (the daemon's updates counters under a lock). Handing each call to a task of its own instead
/// would wake a sleeping thread for every viewer that comes and goes. Input activity is reported
/// at most once per ``TerminalRelay/Configuration/activityInterval`` per session.
public protocol TerminalRelayDelegate: Sendable {
    /// A read-write viewer typed (input or a signal).
    func terminalActivity(session: String)
    /// A viewer attached to the session's terminal.
    func viewerAttached(session: String, role: ViewerRole)
    /// A viewer left: detached, closed, or the session ended. Exactly once per attached viewer.
    func viewerDetached(session: String, role: ViewerRole)
}
