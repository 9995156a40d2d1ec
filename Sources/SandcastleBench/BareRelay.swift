import DockerEngine
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `socat` between a loopback TCP port and the engine: a relay that does nothing but relay (its
/// own process, a `select` loop, a read and a write per chunk each way), the least any program
/// between a terminal's client and the engine can cost.
///
/// The echo section times the raw attach through it as well as directly. A browser reaches the
/// daemon over TCP, and the daemon reaches the engine over its socket, so the difference between
/// the two raw figures is what any hop in between costs this machine's kernel, and the rest of
/// what the daemon adds is its own work and the WebSocket's.
struct BareRelay {
    static let executable = "/usr/bin/socat"

    /// An engine client whose every connection goes through the relay.
    let client: DockerClient
    private let process: Process

    /// Starts a relay to `engine` and connects a client through it.
    static func start(to engine: DockerEndpoint) async throws -> BareRelay {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BenchError.usage("the echo section needs \(executable) (apt-get install socat; scripts/bench installs it)")
        }
        let target: String
        switch engine {
        case .unix(let path): target = "UNIX-CONNECT:\(path)"
        case .tcp(let host, let port): target = "TCP:\(host):\(port),nodelay"
        }
        let port = try freeLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // A child per connection, as the daemon's each connection has its own socket pair;
        // `nodelay` as the daemon's TCP connections have it.
        process.arguments = ["TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork,nodelay", target]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw BenchError.daemon("cannot start \(executable) for the echo section's bare relay: \(error)")
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                let client = try await DockerClient.connect(
                    .init(endpoint: .tcp(host: "127.0.0.1", port: port)), logger: Logger(label: "sandcastle.bench.relay"))
                return BareRelay(client: client, process: process)
            } catch {
                guard process.isRunning, ContinuousClock.now < deadline else {
                    stop(process)
                    throw BenchError.daemon("the engine did not answer through socat on 127.0.0.1:\(port) within 5 s: \(error)")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// The CPU time the relay's processes (the listener and its children, one per connection)
    /// have spent, in microseconds; a child that has exited is no longer counted.
    func cpuMicroseconds() -> Double {
        let pid = process.processIdentifier
        return MachineProcesses.readProcesses().reduce(0) { sum, entry in
            entry.key == pid || entry.value.parent == pid ? sum + entry.value.microseconds : sum
        }
    }

    /// Stops the listener and the children still relaying a connection.
    func stop() { Self.stop(process) }

    private static func stop(_ process: Process) {
        let pid = process.processIdentifier
        for (child, entry) in MachineProcesses.readProcesses() where entry.parent == pid { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}
