import EgressPolicy
import SandboxPolicy
import SessionStore

extension SessionManager {
    /// Opens the egress proxy of a session about to launch, when it has egress; nil when it has
    /// none. `directory`: a claimed warm-pool slot's egress directory (nil for a cold launch).
    ///
    /// - Throws: ``SessionManagerError`` `rejected` when the session has egress and this daemon
    ///   has no proxy; the proxy's error when the socket cannot be opened.
    func openEgress(_ session: Session, approved: ApprovedSession, uid: UInt32, in directory: String? = nil)
        async throws -> EgressMount?
    {
        guard !approved.egress.isEmpty else { return nil }
        guard let egress else {
            throw SessionManagerError(
                .rejected, "profile \(approved.profile.name) grants egress, and this daemon has no egress proxy",
                sessionID: session.id)
        }
        return try await egress.open(
            sessionID: session.id, profile: approved.profile.name, allow: approved.egress, uid: uid, directory: directory)
    }

    /// The session's egress allow list and counters, while its proxy is open.
    public nonisolated func egressStatus(_ id: String) -> EgressStatus? {
        egress?.status(sessionID: id)
    }

    /// Gives every running session its egress socket again (after the daemon restarted: the
    /// containers kept their bound directory, in which the new socket appears).
    public func restoreEgress() async {
        guard let egress, let running = try? await store.sessions(inStates: [.running]) else { return }
        for session in running {
            do {
                try await egress.reopen(sessionID: session.id)
            } catch {
                logger.error(
                    "cannot reopen the egress proxy of a running session",
                    metadata: ["session.id": "\(session.id)", "error": "\(error)"])
            }
        }
    }
}
