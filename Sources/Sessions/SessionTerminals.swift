import DockerEngine
import SessionStore

/// Where sessions' terminals live: the terminal relay, in the daemon. The manager tells it when a
/// session starts with its terminal already attached, and when a session ends.
public protocol SessionTerminals: Sendable {
    /// `session` started with its container's terminal attached (a warm-pool claim, or a container
    /// attached before it started): `stream` becomes its terminal's first attachment, so nothing
    /// the session prints is missed.
    func adopt(_ session: Session, stream: TerminalStream) async

    /// `session` ended (exited, or removed): its viewers get the exit frame.
    func ended(_ session: Session) async
}
