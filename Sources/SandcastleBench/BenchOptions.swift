/// What a run measures, and how much.
public struct BenchOptions: Sendable {
    public enum Section: String, Sendable, CaseIterable, Codable {
        case idle, http, terminal, cold, echo, throughput, warm, files, screen, exec, egress
    }

    /// The sections to run, in ``Section`` order.
    public var sections: [Section] = Section.allCases
    public var image = "sandcastle/testbox:latest"
    public var profile = "default"
    /// The directory of policy profiles (the daemon's, to build the raw side's identical config).
    public var policies = "Policies"

    /// Sequential cold launches (and as many raw create+starts, interleaved).
    public var coldSamples = 20
    /// Burst sizes of the warm section; the pool is sized to each in turn.
    public var warmBursts = [1, 8, 32]
    /// At least this many launches per burst size (rounds of the burst).
    public var warmSamples = 32
    /// Bytes pushed through the TTY, each way measured once.
    public var throughputBytes = 256 << 20
    public var echoSamples = 2000
    /// Execs of `echo x` in one session, and as many raw engine execs, interleaved.
    public var execSamples = 200
    /// Requests of each kind in the http section.
    public var httpRequests = 300
    /// Viewers that join a running session's terminal, one after another, in the terminal section.
    public var terminalConnections = 300
    public var idleSessions = 500
    /// Concurrent session creations while filling the idle section.
    public var createConcurrency = 16
    /// The started daemon's `[relay] viewer_queue_bytes`. The throughput section's one viewer is
    /// this process, on the same cores as the daemon, the engine and the container: at ~35 MB/s
    /// the daemon's default (1 MiB) is ~30 ms of slack, and one stall of the bench's own reader
    /// would end the measurement with 1008. 32 MiB measures the relay, not the reader's luck.
    public var viewerQueueBytes = 32 << 20
    /// Reads and as many writes of one file in the files section.
    public var fileSamples = 200
    public var fileBytes = 1 << 20
    /// Files in the tree the files section downloads as an archive (beside `tar -c`), and rounds.
    public var archiveFiles = 10_000
    public var archiveRounds = 5
    /// Egress: HTTPS requests each way (time to first byte), the download's size, sessions and
    /// tunnels held open at once across them.
    public var egressSamples = 200
    public var egressDownloadBytes = 256 << 20
    public var egressSessions = 20
    public var egressTunnels = 200
    /// The started daemon's `[relay] screens`: false measures the relay without screen models.
    public var screens = true

    public init() {}

    /// The session command of each section: they print `ready` once their terminal is set up.
    static let idleCommand = ["cat"]
    static func throughputCommand(bytes: Int) -> [String] {
        ["sh", "-c", "stty -echo; echo ready; read line; head -c \(bytes) /dev/zero; exec cat"]
    }
    static let echoCommand = ["sh", "-c", "stty raw -echo; echo ready; exec cat"]
}
