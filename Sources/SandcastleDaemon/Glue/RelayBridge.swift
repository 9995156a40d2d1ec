import DockerEngine
import SessionStore
import Sessions
import TerminalRelay

// The terminal relay and the sessions meet here, through two narrow seams, so that neither
// target knows the other and the composition root builds them in one order with no cycle:
// activity, then the relay (reporting into the activity), then the manager (handing sessions to
// the relay).

/// The relay's reports of input, output and viewers, recorded for the idle reaper: a watched
/// session is never idle.
struct RelayActivity: TerminalRelayDelegate {
    let activity: SessionActivity

    func terminalActivity(session: String) { activity.touch(session) }
    func viewerAttached(session: String, role: ViewerRole) { activity.viewerAttached(session) }
    func viewerDetached(session: String, role: ViewerRole) { activity.viewerDetached(session) }
}

/// The manager's terminal host: a session that started attached gives the relay its stream as the
/// terminal's first attachment, and a session's end reaches its viewers as the `exit` frame.
struct RelayTerminals: SessionTerminals {
    let relay: TerminalRelay

    func adopt(_ session: Session, stream: TerminalStream) async {
        _ = try? await relay.terminal(session: session.id, containerID: session.containerID ?? "", openStream: stream)
    }

    func ended(_ session: Session) async {
        relay.finish(session: session.id, code: session.exitCode ?? -1, reason: Self.exitFrameReason(session.exitReason))
    }

    /// The protocol's reasons (`exited|oom|killed|timeout|removed`) from the store's finer ones.
    static func exitFrameReason(_ reason: ExitReason?) -> String {
        switch reason {
        case .oom: "oom"
        case .ttl, .idle: "timeout"
        case .removed: "removed"
        case .killed, .stopped, .lost, .engineRestart: "killed"
        default: "exited"
        }
    }
}
