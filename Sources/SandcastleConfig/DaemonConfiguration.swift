import TOMLConfig
import DockerEngine
import Foundation

/// Everything `sandcastled` reads from its TOML configuration file, with the embedded defaults it
/// runs on when there is no file.
///
/// Unknown keys are refused, each with its line, so that a typo never silently leaves a default in
/// force. Every problem in the file is reported at once.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Where the control API listens.
    public var socketPath: String
    /// The group that may use the unix socket (mode 0660); nil keeps the daemon's own group.
    public var socketGroup: String?
    /// An additional TCP listener, `HOST:PORT`; nil for none.
    public var tcpAddress: (host: String, port: Int)?
    public var maxBodyBytes: Int
    /// Origins a browser may open the terminal WebSocket from; empty refuses every browser origin
    /// (non-browser clients send none).
    public var allowedOrigins: [String]
    /// A connection whose request head has not arrived within this time is closed.
    public var headerTimeoutSeconds: Int

    public var engineEndpoint: DockerEndpoint
    public var engineConcurrency: Int
    public var stopGraceSeconds: Int

    public var stateDirectory: String
    public var workspaceRoot: String
    public var policiesDirectory: String
    /// Where workspace images of profiles with `workspace_size` live; nil disables such profiles.
    public var workspaceImageDirectory: String?

    public var apiKeys: [APIKeyEntry]
    public var attachTokenMaxTTLSeconds: Int
    /// Hex; nil: generated once and kept in the state directory.
    public var attachTokenKey: String?
    public var attachTokenPreviousKey: String?

    public var perKeyBurst: Int
    public var perKeyPerSecond: Double
    public var perAddressBurst: Int
    public var perAddressPerSecond: Double

    public var scrollbackBytes: Int
    public var viewerQueueBytes: Int
    public var maxFrameBytes: Int
    /// `[relay] screens`: keep each session's screen (repaints for new and slow viewers, the
    /// screen route's live view); false only to measure the relay without it.
    public var screens = true

    /// The warm pool (`[pool]`); no targets by default, so the daemon never mounts anything.
    public var pool = PoolSettings()
    /// How workspace limits are enforced (`[workspaces] quota`).
    public var workspaceQuota = WorkspaceQuotaSetting.auto
    public var egress = EgressSettings()
    /// How many commands (`/v1/sessions/{id}/exec`) one session runs at once (`[engine]
    /// max_execs_per_session`).
    public var execsPerSession = 4
    /// `[store] synchronous`: "full" (every commit reaches the disk) or "normal" (commits survive
    /// the daemon's crash, not a power cut). See README, "Durability".
    public var storeSynchronous = "full"
    /// `[threads] event_loops`: how many NIO event loops carry the daemon's sockets (the API and
    /// terminal connections, the engine's attach streams, the pool's gates, the egress proxy) and
    /// run its Swift tasks.
    public var eventLoops = 1

    public struct APIKeyEntry: Sendable, Equatable {
        public var name: String
        public var sha256: String
        public var role: String

        public init(name: String, sha256: String, role: String) {
            self.name = name
            self.sha256 = sha256
            self.role = role
        }
    }

    public static func == (lhs: DaemonConfiguration, rhs: DaemonConfiguration) -> Bool {
        lhs.socketPath == rhs.socketPath && lhs.tcpAddress?.host == rhs.tcpAddress?.host
            && lhs.tcpAddress?.port == rhs.tcpAddress?.port && lhs.stateDirectory == rhs.stateDirectory
            && lhs.apiKeys == rhs.apiKeys && lhs.engineEndpoint == rhs.engineEndpoint
    }

    /// The embedded defaults: a system daemon as root, a development one under the user's data
    /// directory otherwise (`$XDG_DATA_HOME/sandcastle` or `~/.local/share/sandcastle`).
    public static func defaults(environment: [String: String] = ProcessInfo.processInfo.environment, isRoot: Bool = getuid() == 0)
        -> DaemonConfiguration
    {
        let state: String
        let socket: String
        if isRoot {
            state = "/var/lib/sandcastle"
            socket = "/run/sandcastle/sandcastled.sock"
        } else {
            let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment["HOME"] ?? "/tmp") + "/.local/share"
            state = data + "/sandcastle"
            socket = state + "/sandcastled.sock"
        }
        let policies = FileManager.default.fileExists(atPath: "/etc/sandcastle/policies")
            ? "/etc/sandcastle/policies" : FileManager.default.currentDirectoryPath + "/Policies"
        return DaemonConfiguration(
            socketPath: socket, socketGroup: nil, tcpAddress: nil, maxBodyBytes: 1 << 20, allowedOrigins: [],
            headerTimeoutSeconds: 10,
            engineEndpoint: (try? DockerEndpoint.fromEnvironment(environment)) ?? .defaultSocket, engineConcurrency: 8,
            stopGraceSeconds: 10, stateDirectory: state, workspaceRoot: state + "/workspaces", policiesDirectory: policies,
            workspaceImageDirectory: isRoot ? state + "/workspace-images" : nil, apiKeys: [],
            attachTokenMaxTTLSeconds: 300, attachTokenKey: nil, attachTokenPreviousKey: nil, perKeyBurst: 60,
            perKeyPerSecond: 20, perAddressBurst: 120, perAddressPerSecond: 40, scrollbackBytes: 1 << 20,
            viewerQueueBytes: 1 << 20, maxFrameBytes: 64 << 10)
    }

    /// Reads a configuration file over the defaults.
    public static func load(file: String, defaults: DaemonConfiguration = .defaults()) throws(ConfigurationError)
        -> DaemonConfiguration
    {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: file, problems: ["cannot read the file: \(error.localizedDescription)"])
        }
        return try parse(text, file: file, defaults: defaults)
    }

    /// Parses configuration text over `defaults`.
    public static func parse(_ text: String, file: String, defaults: DaemonConfiguration) throws(ConfigurationError)
        -> DaemonConfiguration
    {
        let root: ConfigNode
        switch ConfigNode.parseTOML(text) {
        case .success(let node): root = node
        case .failure(let error):
            throw ConfigurationError(file: file, problems: ["line \(error.line): \(error.message)"])
        }
        let log = ProblemLog()
        var config = defaults
        guard let top = ConfigTable.root(root, log: log) else {
            throw ConfigurationError(file: file, problems: log.entries.map { "\($0.field): \($0.message)" })
        }
        if let api = top.table("api", required: false) {
            if let value = api.string("socket", required: false) { config.socketPath = value }
            if let value = api.string("socket_group", required: false) { config.socketGroup = value.isEmpty ? nil : value }
            if let value = api.string("tcp", required: false) {
                if value.isEmpty {
                    config.tcpAddress = nil
                } else if let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
                    (1...65535).contains(port), colon != value.startIndex
                {
                    config.tcpAddress = (String(value[..<colon]), port)
                } else {
                    log.report("api.tcp", value: value, "expected HOST:PORT, as in 127.0.0.1:8420")
                }
            }
            if let value = positive(api, "max_body_bytes", log) { config.maxBodyBytes = value }
            if let value = api.strings("allowed_origins", required: false) { config.allowedOrigins = value }
            if let value = positive(api, "header_timeout_seconds", log) { config.headerTimeoutSeconds = value }
            api.refuseUnknownKeys()
        }
        if let engine = top.table("engine", required: false) {
            if let value = engine.string("endpoint", required: false) {
                switch Result(catching: { () throws(DockerError) in try DockerEndpoint(parsing: value) }) {
                case .success(let endpoint): config.engineEndpoint = endpoint
                case .failure(let error): log.report("engine.endpoint", value: value, error.detail)
                }
            }
            if let value = positive(engine, "max_concurrent_calls", log) { config.engineConcurrency = value }
            if let value = positive(engine, "stop_grace_seconds", log) { config.stopGraceSeconds = value }
            if let value = positive(engine, "max_execs_per_session", log) { config.execsPerSession = value }
            engine.refuseUnknownKeys()
        }
        if let paths = top.table("paths", required: false) {
            for (key, path) in [
                ("state_directory", \DaemonConfiguration.stateDirectory), ("workspace_root", \.workspaceRoot),
                ("policies", \.policiesDirectory),
            ] {
                if let value = paths.string(key, required: false) {
                    if value.hasPrefix("/") { config[keyPath: path] = value } else {
                        log.report("paths.\(key)", value: value, "must be an absolute path")
                    }
                }
            }
            if let value = paths.string("workspace_images", required: false) {
                config.workspaceImageDirectory = value.isEmpty ? nil : value
            }
            paths.refuseUnknownKeys()
        }
        if let auth = top.table("auth", required: false) {
            if let keys = auth.tables("keys", required: false) {
                config.apiKeys = keys.compactMap { key in
                    defer { key.refuseUnknownKeys() }
                    guard let name = key.string("name"), let hash = key.string("sha256"), let role = key.string("role") else {
                        return nil
                    }
                    if !["viewer", "developer", "admin"].contains(role) {
                        log.report(key.field("role"), value: role, "expected viewer, developer or admin")
                    }
                    return APIKeyEntry(name: name, sha256: hash.lowercased(), role: role)
                }
            }
            if let value = positive(auth, "attach_token_max_ttl_seconds", log) { config.attachTokenMaxTTLSeconds = value }
            if let value = auth.string("attach_token_key", required: false) { config.attachTokenKey = value.isEmpty ? nil : value }
            if let value = auth.string("attach_token_previous_key", required: false) {
                config.attachTokenPreviousKey = value.isEmpty ? nil : value
            }
            auth.refuseUnknownKeys()
        }
        if let limits = top.table("limits", required: false) {
            if let value = positive(limits, "per_key_burst", log) { config.perKeyBurst = value }
            if let value = positiveNumber(limits, "per_key_per_second", log) { config.perKeyPerSecond = value }
            if let value = positive(limits, "per_address_burst", log) { config.perAddressBurst = value }
            if let value = positiveNumber(limits, "per_address_per_second", log) { config.perAddressPerSecond = value }
            limits.refuseUnknownKeys()
        }
        if let relay = top.table("relay", required: false) {
            if let value = positive(relay, "scrollback_bytes", log) { config.scrollbackBytes = value }
            if let value = positive(relay, "viewer_queue_bytes", log) { config.viewerQueueBytes = value }
            if let value = positive(relay, "max_frame_bytes", log) { config.maxFrameBytes = value }
            if let value = relay.bool("screens", required: false) { config.screens = value }
            relay.refuseUnknownKeys()
        }
        if let store = top.table("store", required: false) {
            if let value = store.string("synchronous", required: false) {
                if ["full", "normal"].contains(value) { config.storeSynchronous = value } else {
                    log.report(store.field("synchronous"), value: value, "expected full or normal")
                }
            }
            store.refuseUnknownKeys()
        }
        if let threads = top.table("threads", required: false) {
            if let value = positive(threads, "event_loops", log) {
                if value <= 256 { config.eventLoops = value } else {
                    log.report(threads.field("event_loops"), value: String(value), "at most 256")
                }
            }
            threads.refuseUnknownKeys()
        }
        parsePool(top, into: &config, log: log)
        parseWorkspaces(top, into: &config, log: log)
        parseEgress(top, into: &config, log: log)
        top.refuseUnknownKeys()
        guard log.isEmpty else {
            throw ConfigurationError(
                file: file,
                problems: log.entries.map { entry in
                    let line = lineNumber(of: entry.field, in: text).map { "line \($0): " } ?? ""
                    return "\(line)\(entry.field)\(entry.value.map { " = \($0)" } ?? ""): \(entry.message)"
                })
        }
        return config
    }

    private static func positive(_ table: ConfigTable, _ key: String, _ log: ProblemLog) -> Int? {
        guard let value = table.integer(key, required: false) else { return nil }
        guard value > 0, value <= Int64(Int32.max) else {
            log.report(table.field(key), value: String(value), "must be a positive integer")
            return nil
        }
        return Int(value)
    }

    private static func positiveNumber(_ table: ConfigTable, _ key: String, _ log: ProblemLog) -> Double? {
        guard let value = table.number(key, required: false) else { return nil }
        guard value > 0, value.isFinite else {
            log.report(table.field(key), value: String(value), "must be a positive number")
            return nil
        }
        return value
    }

    /// The line where `field` (`section.key`, or `key` at the top) is set, found by reading the text
    /// the way TOML lays it out: `[section]` headers, then `key = value` lines.
    static func lineNumber(of field: String, in text: String) -> Int? {
        let parts = field.split(separator: ".").map(String.init)
        guard let key = parts.last?.split(separator: "[").first.map(String.init) else { return nil }
        let section = parts.dropLast().joined(separator: ".").replacingOccurrences(of: #"\[\d+\]"#, with: "", options: .regularExpression)
        var current = ""
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                current = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                continue
            }
            let name = line.split(separator: "=", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces)
            if current == section, name == key { return index + 1 }
        }
        if parts.count == 1 {
            // A whole unknown section.
            for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where rawLine.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "[] ")) == key {
                return index + 1
            }
        }
        return nil
    }
}

/// A configuration file that cannot be used: every problem, each with its line where known.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var problems: [String]

    public var description: String {
        "invalid configuration \(file):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
