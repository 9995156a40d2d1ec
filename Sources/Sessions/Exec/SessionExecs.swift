import DockerEngine
import Foundation
import Logging
import NIOCore
import SandboxPolicy
import SessionStore
import Synchronization

extension EventType {
    public static let execStarted: EventType = "exec.started"
    public static let execExited: EventType = "exec.exited"
}

/// A command to run in a running session.
public struct ExecRequest: Sendable, Equatable {
    /// The argument vector; `command[0]` is looked up on the session's `PATH`.
    public var command: [String]
    /// Whether the process gets a terminal (raw output, one stream) instead of separate pipes.
    public var tty: Bool
    /// Whether the caller sends stdin; without it the process reads end-of-file at once.
    public var stdin: Bool
    /// After this the process and its descendants are killed (SIGKILL); nil for the maximum.
    public var timeout: Duration?
    /// `NAME=value` pairs added to the session's environment.
    public var env: [String]

    public init(command: [String], tty: Bool = false, stdin: Bool = false, timeout: Duration? = nil, env: [String] = []) {
        self.command = command
        self.tty = tty
        self.stdin = stdin
        self.timeout = timeout
        self.env = env
    }
}

/// How an exec ended.
public struct ExecExit: Sendable, Equatable {
    /// The process's exit status; 128 + the signal for a process that was killed (137 after a
    /// timeout).
    public var exitCode: Int
    /// Whether the timeout killed it.
    public var timedOut: Bool
    public var duration: Duration
}

/// The streams of a running exec, handed to the caller of ``SessionExecs/run(session:_:by:_:)``.
public struct ExecIO: Sendable {
    /// The engine's id of the exec.
    public let id: String
    public let tty: Bool
    /// The process's output: raw terminal bytes with a TTY, the engine's multiplexed frames without
    /// (see ``StreamDemultiplexer``). Keep reading it: the process blocks when nobody does.
    public let output: NIOAsyncChannelInboundStream<ByteBuffer>
    /// The process's stdin (when the request asked for it); `closeWrite()` sends end-of-file.
    public let input: HijackedInput
    let engine: any ExecEngine

    /// Resizes the exec's terminal (with a TTY only; the engine refuses otherwise).
    public func resize(rows: Int, columns: Int) async throws {
        try await engine.resizeExecTTY(id, rows: min(max(rows, 1), 1000), columns: min(max(columns, 1), 1000))
    }
}

/// Runs commands in running sessions through the engine's exec API: as the session's uid, with no
/// privileges added (never `Privileged`; the container's `no-new-privileges`, dropped
/// capabilities and seccomp profile apply to the process as to the session's own), the session's
/// environment and the working directory `/workspace`.
///
/// The engine does not kill an exec'd process when its client goes away, and has no call that
/// kills one. This type does: when the timeout passes, or when the caller's body ends or throws
/// (the client left) before the output ended, it sends SIGKILL to the process and every
/// descendant it has at that moment. The engine reports the exec's host pid; the tree is read from
/// the host's `/proc` and signalled from a second exec as the session's own uid (`sh -c kill`),
/// because the hardened daemon holds no `CAP_KILL` for processes of another uid.
///
/// Each session runs at most `limitPerSession` execs at once. Every exec is recorded in the event
/// log (`exec.started`, `exec.exited`) and counts as the session's activity for idle reaping.
public final class SessionExecs: Sendable {
    public let limitPerSession: Int
    public let maximumTimeout: Duration
    let manager: SessionManager
    let engine: (any ExecEngine)?
    let running = Mutex<[String: Int]>([:])
    let logger: Logger

    /// The working directory of every exec: where the session's workspace is mounted.
    public static let workingDirectory = "/workspace"

    public init(
        manager: SessionManager, engine: (any ExecEngine)?, limitPerSession: Int = 4, maximumTimeout: Duration = .seconds(3600),
        logger: Logger = Logger(label: "sandcastle.exec")
    ) {
        self.manager = manager
        self.engine = engine
        self.limitPerSession = limitPerSession
        self.maximumTimeout = maximumTimeout
        self.logger = logger
    }

    /// How many execs session `id` runs now.
    public func count(session id: String) -> Int {
        running.withLock { $0[id] ?? 0 }
    }

    /// Runs `request` in session `id` and hands its streams to `body`; returns what `body`
    /// returned and how the process ended.
    ///
    /// `body` should read the output to its end. When it returns or throws before the process
    /// has ended, the process is killed (a client that goes away never leaves a process behind).
    ///
    /// - Throws: ``ExecError`` (not running, too many execs, invalid, engine),
    ///   ``SessionManagerError`` `notFound`, or what `body` threw.
    public func run<Result: Sendable>(
        session id: String, _ request: ExecRequest, by principal: String, _ body: (ExecIO) async throws -> Result
    ) async throws -> (result: Result, exit: ExecExit) {
        guard let engine else { throw ExecError(.unsupported, "this daemon's engine has no exec API") }
        try validate(request)
        let session = try await manager.session(id)
        guard session.state == .running, let containerID = session.containerID else {
            throw ExecError(.notRunning, "session \(id) is \(session.state.rawValue); exec needs a running session (start it first)")
        }
        try reserve(id)
        defer { release(id) }

        let config = Self.config(for: request, session: session, egress: manager.egressStatus(id) != nil)
        let target = KillTarget(container: containerID, user: config.user ?? "")
        let execID: String
        let stream: HijackedStream
        do {
            execID = try await engine.createExec(in: containerID, config: config)
            stream = try await engine.startExec(execID, tty: request.tty)
        } catch let error as DockerError where error.code == .notFound || error.code == .conflict {
            throw ExecError(.notRunning, "the container of session \(id) is not running: \(error.detail)")
        } catch {
            throw ExecError(.engine, "the engine could not start the command in session \(id): \(error)")
        }
        let started = ContinuousClock.now
        manager.noteActivity(id)
        // Recorded beside the output, not before it: the append waits for the store's fsync
        // (`synchronous = FULL`), which would otherwise delay the command's first byte. It is
        // awaited before `exec.exited` is, so the log keeps the two in order.
        let startedRecord = Task {
            await self.record(.execStarted, session: id, ExecStartedPayload(exec: execID, command: request.command[0], tty: request.tty, by: principal))
        }

        let timeout = request.timeout ?? maximumTimeout
        let timedOut = TimeoutFlag()
        let timer = Task {
            try await Task.sleep(for: timeout)
            timedOut.set()
            await self.kill(execID, in: target, session: id)
        }
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(
                try await stream.executeThenClose { output, input in
                    try await body(ExecIO(id: execID, tty: request.tty, output: output, input: input, engine: engine))
                })
        } catch {
            outcome = .failure(error)
        }
        timer.cancel()
        // Cleanup runs outside the caller's task: a cancelled caller (the client left) must still
        // have its process killed and its end recorded.
        let exit = await Task {
            // The caller failed or left: the process has no reader any more.
            if case .failure = outcome { await self.kill(execID, in: target, session: id) }
            let code = await self.waitForExit(execID, in: target, session: id)
            return ExecExit(exitCode: code, timedOut: timedOut.isSet, duration: ContinuousClock.now - started)
        }.value
        manager.noteActivity(id)
        await startedRecord.value
        await record(
            .execExited, session: id,
            ExecExitedPayload(exec: execID, exitCode: exit.exitCode, timedOut: exit.timedOut, durationMs: exit.duration.milliseconds))
        return (try outcome.get(), exit)
    }

    func validate(_ request: ExecRequest) throws {
        guard let first = request.command.first, !first.isEmpty else {
            throw ExecError(.invalid, "command must be a non-empty argument vector with a non-empty first element")
        }
        if let timeout = request.timeout, timeout <= .zero || timeout > maximumTimeout {
            throw ExecError(.invalid, "timeout must be more than 0 and at most \(maximumTimeout.milliseconds / 1000) s")
        }
        for entry in request.env where !entry.contains("=") || entry.hasPrefix("=") {
            throw ExecError(.invalid, "env entries are NAME=value; '\(entry.prefix(64))' is not")
        }
    }

    /// `egress`: the session's proxy is open; its execs get the proxy variables too (a warm-pool
    /// container's own environment lacks them: its gate handed them to the session's command).
    static func config(for request: ExecRequest, session: Session, egress: Bool = false) -> ExecConfig {
        var env = session.env
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append(LaunchSpec.defaultHome) }
        if egress { env = EgressMount.environment(merging: env) }
        env += request.env
        return ExecConfig(
            cmd: request.command, tty: request.tty, attachStdin: request.stdin, attachStdout: true, attachStderr: true,
            env: env, user: WorkspaceUser(uid: UInt32(session.workspaceUID)).description, workingDir: workingDirectory)
    }

    private func reserve(_ id: String) throws {
        let limit = limitPerSession
        let admitted = running.withLock { counts -> Bool in
            guard counts[id, default: 0] < limit else { return false }
            counts[id, default: 0] += 1
            return true
        }
        guard admitted else {
            throw ExecError(.tooManyExecs, "session \(id) already runs \(limit) execs, the limit; wait for one to end")
        }
    }

    private func release(_ id: String) {
        running.withLock { counts in
            counts[id, default: 1] -= 1
            if counts[id] == 0 { counts[id] = nil }
        }
    }

    /// The exec's exit code once the engine reports it ended. The output ends a little before the
    /// engine records the exit; a process still running after its output ended (its client left, or
    /// a child holds the pipes) is killed.
    func waitForExit(_ execID: String, in target: KillTarget, session: String) async -> Int {
        var delay = Duration.milliseconds(1)
        var waited = Duration.zero
        var killed = false
        while true {
            guard let inspect = try? await engine?.inspectExec(execID) else { return -1 }
            if !inspect.running { return inspect.exitCode ?? -1 }
            if waited >= .milliseconds(200), !killed {
                await kill(execID, in: target, session: session)
                killed = true
            } else if waited >= .seconds(10) {
                logger.warning("exec still running after SIGKILL", metadata: ["session.id": "\(session)", "exec.id": "\(execID)"])
                return -1
            }
            try? await Task.sleep(for: delay)
            waited += delay
            delay = min(delay * 2, .milliseconds(50))
        }
    }

    /// Where and as whom the killer runs.
    struct KillTarget: Sendable {
        var container: String
        var user: String
    }

    /// SIGKILL to the exec's process and its descendants.
    func kill(_ execID: String, in target: KillTarget, session: String) async {
        guard let engine, let inspect = try? await engine.inspectExec(execID), inspect.running, let pid = inspect.pid, pid > 0
        else { return }
        let pids = await ProcessTree.namespacePIDs(root: Int32(pid))
        guard !pids.isEmpty else { return }
        let killer = ExecConfig(
            cmd: ["sh", "-c", #"kill -KILL "$@""#, "sh"] + pids.map(String.init), tty: false, attachStdin: false,
            attachStdout: true, attachStderr: true, env: [], user: target.user, workingDir: Self.workingDirectory)
        do {
            let id = try await engine.createExec(in: target.container, config: killer)
            let stream = try await engine.startExec(id, tty: false)
            try await stream.executeThenClose { output, _ in for try await _ in output {} }
            logger.info("exec killed", metadata: ["session.id": "\(session)", "exec.id": "\(execID)", "processes": "\(pids.count)"])
        } catch {
            logger.warning("cannot kill exec", metadata: ["session.id": "\(session)", "exec.id": "\(execID)", "error": "\(error)"])
        }
    }

    private func record(_ type: EventType, session: String, _ payload: some Encodable) async {
        do {
            _ = try await manager.store.appendEvent(try NewEvent(type: type, sessionID: session, encoding: payload))
        } catch {
            logger.warning("cannot record \(type)", metadata: ["session.id": "\(session)", "error": "\(error)"])
        }
    }
}

struct ExecStartedPayload: Encodable {
    var exec: String
    /// Only the program: arguments may carry secrets.
    var command: String
    var tty: Bool
    var by: String
}

struct ExecExitedPayload: Encodable {
    var exec: String
    var exitCode: Int
    var timedOut: Bool
    var durationMs: Int64
}

/// Whether an exec's timeout fired (set by its timer task, read after the exec ended).
final class TimeoutFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
