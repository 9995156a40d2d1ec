import DockerEngine

/// What running a command inside a session's container needs from the engine: the engine's exec
/// API. ``DockerClient`` is the real implementation.
public protocol ExecEngine: Sendable {
    func createExec(in container: String, config: ExecConfig) async throws -> String
    func startExec(_ id: String, tty: Bool) async throws -> HijackedStream
    func inspectExec(_ id: String) async throws -> ExecInspect
    func resizeExecTTY(_ id: String, rows: Int, columns: Int) async throws
}

extension DockerClient: ExecEngine {}
