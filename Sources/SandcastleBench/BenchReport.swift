import Foundation

/// Everything one run of `sandcastle-bench` measured, as written to `--json`.
///
/// Each section is optional: a run may measure only some (`--sections`), and reports of separate
/// runs (the warm pool inside Docker-in-Docker, the rest on the host) are merged with
/// ``merged(with:)``. Durations are in microseconds, sizes in bytes, rates in bytes per second.
public struct BenchReport: Sendable, Codable, Equatable {
    /// The version of this JSON shape.
    public var format = 1
    public var environments: [Environment] = []
    public var cold: Cold?
    public var warm: [WarmBurst]?
    public var throughput: Throughput?
    /// The same throughput with the daemon's screen models off (`--no-screens`), for the screen
    /// target: the models must not cost more than a tenth of it.
    public var throughputWithoutScreens: Throughput?
    public var echo: Echo?
    public var idle: Idle?
    public var files: Files?
    public var screen: Screen?
    public var exec: Exec?
    public var egress: Egress?
    public var http: HTTPCost?
    public var terminal: TerminalConnections?
    /// Measured with the warm section: how much more fixed work costs after the bench's quiet wait.
    public var quietPenalty: QuietPenalty?
    /// The performance targets checked against the sections present (see ``Targets``).
    public var verdicts: [Verdict] = []

    public init() {}

    /// Where a part of the report was measured.
    public struct Environment: Sendable, Codable, Equatable {
        /// The sections measured there.
        public var sections: [String]
        public var engineVersion: String
        public var engineAPIVersion: String
        public var processors: Int
        public var kernel: String
        public var image: String
        public var profile: String
        public var startedAt: String

        public init(
            sections: [String], engineVersion: String, engineAPIVersion: String, processors: Int, kernel: String,
            image: String, profile: String, startedAt: String
        ) {
            self.sections = sections
            self.engineVersion = engineVersion
            self.engineAPIVersion = engineAPIVersion
            self.processors = processors
            self.kernel = kernel
            self.image = image
            self.profile = profile
            self.startedAt = startedAt
        }
    }

    /// A cold launch: `POST /v1/sessions` to the terminal's `hello` frame (pool empty), beside the
    /// engine's create+start of the same container configuration.
    public struct Cold: Sendable, Codable, Equatable {
        public var daemon: LatencySummary
        public var raw: LatencySummary
        /// CPU per daemon launch, and per raw create+start (the client's and the rest of the
        /// machine's, the engine's split out).
        public var cpu: CPUPerOperation?
        public var rawCPU: CPUPerOperation?
        /// The engine calls a launch makes (create, the read-back's inspect, the attach, start),
        /// made directly, and their CPU: what the daemon must ask of the engine, without the
        /// daemon. Nil in reports from before they were measured.
        public var calls: LatencySummary?
        public var callsCPU: CPUPerOperation?
        public var ratioP50: Double { daemon.p50 / raw.p50 }
        /// The engine calls' p50 against create+start's: the part of ``ratioP50`` the calls
        /// themselves take.
        public var callsRatioP50: Double? { calls.map { $0.p50 / raw.p50 } }

        public init(
            daemon: LatencySummary, raw: LatencySummary, cpu: CPUPerOperation? = nil, rawCPU: CPUPerOperation? = nil,
            calls: LatencySummary? = nil, callsCPU: CPUPerOperation? = nil
        ) {
            self.daemon = daemon
            self.raw = raw
            self.cpu = cpu
            self.rawCPU = rawCPU
            self.calls = calls
            self.callsCPU = callsCPU
        }

        enum CodingKeys: String, CodingKey { case daemon, raw, cpu, rawCPU, calls, callsCPU, ratioP50, callsRatioP50 }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            daemon = try container.decode(LatencySummary.self, forKey: .daemon)
            raw = try container.decode(LatencySummary.self, forKey: .raw)
            cpu = try container.decodeIfPresent(CPUPerOperation.self, forKey: .cpu)
            rawCPU = try container.decodeIfPresent(CPUPerOperation.self, forKey: .rawCPU)
            calls = try container.decodeIfPresent(LatencySummary.self, forKey: .calls)
            callsCPU = try container.decodeIfPresent(CPUPerOperation.self, forKey: .callsCPU)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(daemon, forKey: .daemon)
            try container.encode(raw, forKey: .raw)
            try container.encodeIfPresent(cpu, forKey: .cpu)
            try container.encodeIfPresent(rawCPU, forKey: .rawCPU)
            try container.encodeIfPresent(calls, forKey: .calls)
            try container.encodeIfPresent(callsCPU, forKey: .callsCPU)
            try container.encode(ratioP50, forKey: .ratioP50)
            try container.encodeIfPresent(callsRatioP50, forKey: .callsRatioP50)
        }
    }

    /// Warm launches in bursts of `burst` concurrent requests, the pool sized to the burst.
    public struct WarmBurst: Sendable, Codable, Equatable {
        public var burst: Int
        public var rounds: Int
        /// Launches served by a cold launch instead of a pool slot (the pool ran dry).
        public var coldFallbacks: Int?
        public var launch: LatencySummary
        /// CPU per launch, over the bursts (request to hello, every launch of a burst at once).
        public var cpu: CPUPerOperation?
        /// CPU per slot the pool created before the rounds' bursts (the container's create,
        /// read-back and start, and the wait for its gate), with the bench's polls of
        /// `GET /v1/pools` every 100 ms meanwhile.
        public var refill: CPUPerOperation?

        public init(
            burst: Int, rounds: Int, coldFallbacks: Int?, launch: LatencySummary, cpu: CPUPerOperation? = nil,
            refill: CPUPerOperation? = nil
        ) {
            self.burst = burst
            self.rounds = rounds
            self.coldFallbacks = coldFallbacks
            self.launch = launch
            self.cpu = cpu
            self.refill = refill
        }
    }

    /// Bytes through the TTY: the daemon's WebSocket beside a raw hijacked attach.
    public struct Throughput: Sendable, Codable, Equatable {
        public var bytes: Int
        public var daemonSeconds: Double
        public var rawSeconds: Double
        /// Whether the daemon kept screen models (nil in reports from before it was recorded).
        public var screens: Bool?
        public var daemonBytesPerSecond: Double { Double(bytes) / daemonSeconds }
        public var rawBytesPerSecond: Double { Double(bytes) / rawSeconds }
        public var ratio: Double { daemonBytesPerSecond / rawBytesPerSecond }

        public init(bytes: Int, daemonSeconds: Double, rawSeconds: Double, screens: Bool? = nil) {
            self.bytes = bytes
            self.daemonSeconds = daemonSeconds
            self.rawSeconds = rawSeconds
            self.screens = screens
        }

        enum CodingKeys: String, CodingKey {
            case bytes, daemonSeconds, rawSeconds, screens, daemonBytesPerSecond, rawBytesPerSecond, ratio
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            bytes = try container.decode(Int.self, forKey: .bytes)
            daemonSeconds = try container.decode(Double.self, forKey: .daemonSeconds)
            rawSeconds = try container.decode(Double.self, forKey: .rawSeconds)
            screens = try container.decodeIfPresent(Bool.self, forKey: .screens)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(bytes, forKey: .bytes)
            try container.encode(daemonSeconds, forKey: .daemonSeconds)
            try container.encode(rawSeconds, forKey: .rawSeconds)
            try container.encodeIfPresent(screens, forKey: .screens)
            try container.encode(daemonBytesPerSecond, forKey: .daemonBytesPerSecond)
            try container.encode(rawBytesPerSecond, forKey: .rawBytesPerSecond)
            try container.encode(ratio, forKey: .ratio)
        }
    }

    /// One byte in, the same byte out: through the daemon's WebSocket, through a raw attach, and
    /// through the same raw attach behind a bare relay (`socat`, TCP to the engine's socket).
    public struct Echo: Sendable, Codable, Equatable {
        public var daemon: LatencySummary
        public var raw: LatencySummary
        /// CPU per round trip through the daemon, and through the raw attach (no daemon there:
        /// the bench client and the rest of the machine). Nil in reports from before it was measured.
        public var cpu: CPUPerOperation?
        public var rawCPU: CPUPerOperation?
        /// Through the bare relay, and its CPU (the relay's own is the rest of the machine's).
        /// Nil in reports from before it was measured.
        public var relay: LatencySummary?
        public var relayCPU: CPUPerOperation?
        /// The relay's own CPU per round trip (socat's processes), the counterpart of the daemon's.
        public var relayMicroseconds: Double?
        /// What the daemon adds at p50, in microseconds.
        public var addedP50: Double { daemon.p50 - raw.p50 }
        /// What the bare relay adds at p50: any hop's share of ``addedP50``.
        public var relayAddedP50: Double? { relay.map { $0.p50 - raw.p50 } }

        public init(
            daemon: LatencySummary, raw: LatencySummary, cpu: CPUPerOperation? = nil, rawCPU: CPUPerOperation? = nil,
            relay: LatencySummary? = nil, relayCPU: CPUPerOperation? = nil, relayMicroseconds: Double? = nil
        ) {
            self.daemon = daemon
            self.raw = raw
            self.cpu = cpu
            self.rawCPU = rawCPU
            self.relay = relay
            self.relayCPU = relayCPU
            self.relayMicroseconds = relayMicroseconds
        }

        enum CodingKeys: String, CodingKey { case daemon, raw, cpu, rawCPU, relay, relayCPU, relayMicroseconds, addedP50, relayAddedP50 }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            daemon = try container.decode(LatencySummary.self, forKey: .daemon)
            raw = try container.decode(LatencySummary.self, forKey: .raw)
            cpu = try container.decodeIfPresent(CPUPerOperation.self, forKey: .cpu)
            rawCPU = try container.decodeIfPresent(CPUPerOperation.self, forKey: .rawCPU)
            relay = try container.decodeIfPresent(LatencySummary.self, forKey: .relay)
            relayCPU = try container.decodeIfPresent(CPUPerOperation.self, forKey: .relayCPU)
            relayMicroseconds = try container.decodeIfPresent(Double.self, forKey: .relayMicroseconds)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(daemon, forKey: .daemon)
            try container.encode(raw, forKey: .raw)
            try container.encodeIfPresent(cpu, forKey: .cpu)
            try container.encodeIfPresent(rawCPU, forKey: .rawCPU)
            try container.encodeIfPresent(relay, forKey: .relay)
            try container.encodeIfPresent(relayCPU, forKey: .relayCPU)
            try container.encodeIfPresent(relayMicroseconds, forKey: .relayMicroseconds)
            try container.encode(addedP50, forKey: .addedP50)
            try container.encodeIfPresent(relayAddedP50, forKey: .relayAddedP50)
        }
    }

    /// Idle sessions, each with one attached viewer, and the daemon's resident memory.
    public struct Idle: Sendable, Codable, Equatable {
        public var sessions: Int
        /// VmRSS before the sessions were made.
        public var baselineRSSBytes: Int
        /// VmRSS with every session attached.
        public var rssBytes: Int
        /// The daemon's CPU per second of wall time while every session sits idle with its viewer
        /// attached (a window longer than the reaper's interval and the status line's), in
        /// microseconds; nil in reports from before it was measured.
        public var idleMicrosecondsPerSecond: Double?
        /// The daemon's CPU per `GET /metrics` with every session attached, in microseconds; nil
        /// in reports from before it was measured.
        public var scrapeMicroseconds: Double?
        /// The daemon's CPU per `GET /v1/sessions` of one page holding every session (up to
        /// 1,000), in microseconds; nil in reports from before it was measured.
        public var listMicroseconds: Double?
        public var perSessionBytes: Double {
            sessions > 0 ? Double(rssBytes - baselineRSSBytes) / Double(sessions) : 0
        }

        public init(
            sessions: Int, baselineRSSBytes: Int, rssBytes: Int, idleMicrosecondsPerSecond: Double? = nil,
            scrapeMicroseconds: Double? = nil, listMicroseconds: Double? = nil
        ) {
            self.sessions = sessions
            self.baselineRSSBytes = baselineRSSBytes
            self.rssBytes = rssBytes
            self.idleMicrosecondsPerSecond = idleMicrosecondsPerSecond
            self.scrapeMicroseconds = scrapeMicroseconds
            self.listMicroseconds = listMicroseconds
        }

        /// The resident memory expected at `sessions` sessions, from this run's per-session cost.
        public func projectedRSS(sessions target: Int) -> Double {
            Double(baselineRSSBytes) + perSessionBytes * Double(target)
        }

        enum CodingKeys: String, CodingKey {
            case sessions, baselineRSSBytes, rssBytes, perSessionBytes, idleMicrosecondsPerSecond, scrapeMicroseconds,
                listMicroseconds
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            sessions = try container.decode(Int.self, forKey: .sessions)
            baselineRSSBytes = try container.decode(Int.self, forKey: .baselineRSSBytes)
            rssBytes = try container.decode(Int.self, forKey: .rssBytes)
            idleMicrosecondsPerSecond = try container.decodeIfPresent(Double.self, forKey: .idleMicrosecondsPerSecond)
            scrapeMicroseconds = try container.decodeIfPresent(Double.self, forKey: .scrapeMicroseconds)
            listMicroseconds = try container.decodeIfPresent(Double.self, forKey: .listMicroseconds)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(sessions, forKey: .sessions)
            try container.encode(baselineRSSBytes, forKey: .baselineRSSBytes)
            try container.encode(rssBytes, forKey: .rssBytes)
            try container.encode(perSessionBytes, forKey: .perSessionBytes)
            try container.encodeIfPresent(idleMicrosecondsPerSecond, forKey: .idleMicrosecondsPerSecond)
            try container.encodeIfPresent(scrapeMicroseconds, forKey: .scrapeMicroseconds)
            try container.encodeIfPresent(listMicroseconds, forKey: .listMicroseconds)
        }
    }

    /// One target and whether the run met it.
    public struct Verdict: Sendable, Codable, Equatable {
        public enum Status: String, Sendable, Codable {
            case pass, fail
        }

        /// A stable name: `warm.burst8.p50`, `cold.ratio`, `throughput.ratio`, `echo.added_p50`,
        /// `idle.rss`.
        public var target: String
        public var status: Status
        public var measured: Double
        public var limit: Double
        public var unit: String
        /// How far from the limit, in words, and what the number is made of.
        public var detail: String

        public init(target: String, status: Status, measured: Double, limit: Double, unit: String, detail: String) {
            self.target = target
            self.status = status
            self.measured = measured
            self.limit = limit
            self.unit = unit
            self.detail = detail
        }
    }

    /// This report with the sections of `other` added (those of `other` win where both have one),
    /// and the verdicts computed again.
    public func merged(with other: BenchReport) -> BenchReport {
        var result = self
        result.environments += other.environments
        result.cold = other.cold ?? cold
        result.warm = other.warm ?? warm
        if let measured = other.throughput {
            if measured.screens == false { result.throughputWithoutScreens = measured } else { result.throughput = measured }
        }
        result.throughputWithoutScreens = other.throughputWithoutScreens ?? result.throughputWithoutScreens
        result.echo = other.echo ?? echo
        result.idle = other.idle ?? idle
        result.files = other.files ?? files
        result.screen = other.screen ?? screen
        result.exec = other.exec ?? exec
        result.egress = other.egress ?? egress
        result.http = other.http ?? http
        result.terminal = other.terminal ?? terminal
        result.quietPenalty = other.quietPenalty ?? quietPenalty
        result.verdicts = Targets().evaluate(result)
        return result
    }

    /// The report as pretty JSON, keys sorted.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> BenchReport {
        try JSONDecoder().decode(BenchReport.self, from: data)
    }
}
