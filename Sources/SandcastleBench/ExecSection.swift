import DockerEngine
import Foundation
import SandcastleClient

#if canImport(Glibc)
import Glibc
#endif

extension BenchReport {
    /// A short command (`echo x`) in a running session: the daemon's exec WebSocket from the
    /// connection to the first stdout byte, beside the engine's own exec (create, start, first
    /// byte) in a container of the same configuration. CPU is the daemon process's user+system
    /// time over the daemon's samples, per exec.
    public struct Exec: Sendable, Codable, Equatable {
        public var daemon: LatencySummary
        public var raw: LatencySummary
        /// sandcastled's CPU time per exec, in microseconds; nil when its pid is unknown.
        public var daemonCPUMicrosecondsPerExec: Double?
        public var ratioP50: Double { daemon.p50 / raw.p50 }

        public init(daemon: LatencySummary, raw: LatencySummary, daemonCPUMicrosecondsPerExec: Double?) {
            self.daemon = daemon
            self.raw = raw
            self.daemonCPUMicrosecondsPerExec = daemonCPUMicrosecondsPerExec
        }

        enum CodingKeys: String, CodingKey { case daemon, raw, daemonCPUMicrosecondsPerExec, ratioP50 }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            daemon = try container.decode(LatencySummary.self, forKey: .daemon)
            raw = try container.decode(LatencySummary.self, forKey: .raw)
            daemonCPUMicrosecondsPerExec = try container.decodeIfPresent(Double.self, forKey: .daemonCPUMicrosecondsPerExec)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(daemon, forKey: .daemon)
            try container.encode(raw, forKey: .raw)
            try container.encodeIfPresent(daemonCPUMicrosecondsPerExec, forKey: .daemonCPUMicrosecondsPerExec)
            try container.encode(ratioP50, forKey: .ratioP50)
        }
    }
}

extension RawEngine {
    /// The engine's exec of `command` in `container`, as the daemon configures it (the session's
    /// uid, `/workspace`): the time from the create call to the first output byte. The rest of
    /// the output and the exit are awaited outside the measurement.
    func execToFirstByte(container: String, command: [String]) async throws -> Duration {
        let config = ExecConfig(
            cmd: command, tty: false, attachStdin: false, attachStdout: true, attachStderr: true, env: ["HOME=/workspace"],
            user: user.description, workingDir: "/workspace")
        let clock = ContinuousClock()
        let start = clock.now
        let exec = try await client.createExec(in: container, config: config)
        let stream = try await client.startExec(exec, tty: false)
        return try await stream.executeThenClose { output, _ in
            var elapsed: Duration?
            var demultiplexer = StreamDemultiplexer()
            for try await chunk in output {
                if elapsed == nil, try demultiplexer.feed(chunk).contains(where: { $0.payload.readableBytes > 0 }) {
                    elapsed = clock.now - start
                }
            }
            guard let elapsed else { throw BenchError.terminal("the raw exec printed nothing") }
            return elapsed
        }
    }
}

extension Benchmark {
    static let execCommand = ["echo", "x"]

    func exec() async throws -> BenchReport.Exec {
        let samples = options.execSamples
        let warmUp = min(20, samples)
        let rawContainer = try await raw.createAndStart(command: BenchOptions.idleCommand, name: nextName("raw"))
        defer { Task { [raw] in await raw.remove(rawContainer.id) } }
        let session = try await api.createSession(
            id: nextName("exec"), image: options.image, profile: options.profile, workspace: nextName("exec"),
            command: BenchOptions.idleCommand)
        do {
            let client = api.client()
            for _ in 0..<warmUp {
                _ = try await daemonExecToFirstByte(client, session: session)
                _ = try await raw.execToFirstByte(container: rawContainer.id, command: Self.execCommand)
            }
            var daemon: [Duration] = []
            var engine: [Duration] = []
            var cpu = CPUMeter(daemonPID: target.pid)
            for _ in 0..<samples {
                // Interleaved, so that a drift of the engine or the machine touches both sides alike.
                daemon.append(try await cpu.measure { try await daemonExecToFirstByte(client, session: session) })
                engine.append(try await raw.execToFirstByte(container: rawContainer.id, command: Self.execCommand))
            }
            try await api.removeSession(session)
            return .init(
                daemon: try summary(daemon, "exec"), raw: try summary(engine, "raw exec"),
                daemonCPUMicrosecondsPerExec: cpu.perOperation?.daemonMicroseconds)
        } catch {
            try? await api.removeSession(session)
            throw error
        }
    }

    /// The exec WebSocket from the connection to the first stdout byte; then the exit, untimed.
    func daemonExecToFirstByte(_ client: SandcastleClient, session: String) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        return try await client.exec(session, start: ["command": Self.execCommand]) { messages, _ in
            var elapsed: Duration?
            for try await message in messages {
                switch message {
                case .stdout(let bytes) where !bytes.isEmpty:
                    if elapsed == nil { elapsed = clock.now - start }
                case .exit:
                    guard let elapsed else { throw BenchError.daemon("the exec printed nothing") }
                    return elapsed
                case .error(_, let text):
                    throw BenchError.daemon("exec failed: \(text)")
                case .closed(let code, let reason):
                    throw BenchError.daemon("the exec WebSocket closed (\(code.map(String.init) ?? "-") \(reason)) before the exit")
                default:
                    continue
                }
            }
            throw BenchError.daemon("the exec WebSocket ended before the exit")
        }
    }
}
