import EgressPolicy
import SandboxPolicy

/// Where sessions' egress lives: the daemon's egress proxy. The manager opens a session's proxy
/// before its container is created (the container binds the socket directory), and tells it
/// when the session ends and when it is removed.
public protocol SessionEgress: Sendable {
    /// Opens the proxy of session `sessionID` (running as `uid`) for `allow`, remembering it so
    /// that ``reopen(sessionID:)`` can open it again; returns what its container binds. The
    /// socket goes in `directory` when given (a warm-pool slot's egress directory, which its
    /// container already binds), else in a directory of the session's own.
    func open(sessionID: String, profile: String, allow: EgressAllowList, uid: UInt32, directory: String?)
        async throws -> EgressMount

    /// Opens again the proxy of a session opened before (a started again session, or a running
    /// one after the daemon restarted); false when there is nothing to reopen.
    @discardableResult
    func reopen(sessionID: String) async throws -> Bool

    /// The session's container ended: its socket and tunnels close; the directory stays for a
    /// start again.
    func suspend(sessionID: String) async

    /// The session is gone: socket, tunnels, directory and record.
    func remove(sessionID: String) async

    /// The allow list and counters, while the proxy is open.
    func status(sessionID: String) -> EgressStatus?
}
