/// What the rest of the daemon learns from the relay: the session manager counts a watched
/// session as never idle and terminal input as activity.
///
/// Calls are made one at a time, in order, by a child task of ``TerminalRelay/run()`` (never from
/// the output pump or a viewer's task, so a slow delegate stalls nothing but later calls), which
/// is why they may be `async` and hop onto an actor. Input activity is reported at most once per
/// ``TerminalRelay/Configuration/activityInterval`` per session.
public protocol TerminalRelayDelegate: Sendable {
    /// A read-write viewer typed (input or a signal).
    func terminalActivity(session: String) async
    /// A viewer attached to the session's terminal.
    func viewerAttached(session: String, role: ViewerRole) async
    /// A viewer left: detached, closed, or the session ended. Exactly once per attached viewer.
    func viewerDetached(session: String, role: ViewerRole) async
}
