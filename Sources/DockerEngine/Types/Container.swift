/// `POST /containers/create` answer.
public struct ContainerCreateResponse: Codable, Sendable, Equatable {
    public var id: String
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case warnings = "Warnings"
    }
}

/// `GET /containers/{id}/json`.
public struct ContainerInspect: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var created: String?
    public var path: String?
    public var args: [String]?
    public var state: ContainerState
    public var image: String?
    public var config: ContainerConfig?
    public var hostConfig: HostConfig?
    public var mounts: [MountPoint]?
    public var restartCount: Int?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case name = "Name"
        case created = "Created"
        case path = "Path"
        case args = "Args"
        case state = "State"
        case image = "Image"
        case config = "Config"
        case hostConfig = "HostConfig"
        case mounts = "Mounts"
        case restartCount = "RestartCount"
    }
}

/// `State` of an inspected container.
public struct ContainerState: Codable, Sendable, Equatable {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    public var status: String
    public var running: Bool
    public var paused: Bool?
    public var restarting: Bool?
    /// True when the kernel's OOM killer killed a process of the container. A container whose
    /// child was OOM-killed may still exit 0, so read this, not the exit code.
    public var oomKilled: Bool
    public var dead: Bool?
    public var pid: Int?
    public var exitCode: Int
    public var error: String?
    /// RFC 3339 with nanoseconds; `0001-01-01T00:00:00Z` when never started.
    public var startedAt: String?
    public var finishedAt: String?

    enum CodingKeys: String, CodingKey {
        case status = "Status"
        case running = "Running"
        case paused = "Paused"
        case restarting = "Restarting"
        case oomKilled = "OOMKilled"
        case dead = "Dead"
        case pid = "Pid"
        case exitCode = "ExitCode"
        case error = "Error"
        case startedAt = "StartedAt"
        case finishedAt = "FinishedAt"
    }
}

/// An entry of the top-level `Mounts` of an inspected container: what the engine really mounted.
public struct MountPoint: Codable, Sendable, Equatable {
    public var type: String?
    /// The volume's name, for volume mounts.
    public var name: String?
    public var source: String?
    public var destination: String
    public var mode: String?
    public var rw: Bool?
    public var propagation: String?

    public init(
        type: String?, name: String? = nil, source: String?, destination: String, mode: String? = nil, rw: Bool?,
        propagation: String?
    ) {
        self.type = type
        self.name = name
        self.source = source
        self.destination = destination
        self.mode = mode
        self.rw = rw
        self.propagation = propagation
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case name = "Name"
        case source = "Source"
        case destination = "Destination"
        case mode = "Mode"
        case rw = "RW"
        case propagation = "Propagation"
    }
}

/// An entry of `GET /containers/json`.
public struct ContainerSummary: Codable, Sendable, Equatable {
    public var id: String
    public var names: [String]
    public var image: String?
    public var imageID: String?
    public var command: String?
    public var created: Int64?
    /// `created`, `running`, `exited`, ...
    public var state: String
    public var status: String?
    public var labels: [String: String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case names = "Names"
        case image = "Image"
        case imageID = "ImageID"
        case command = "Command"
        case created = "Created"
        case state = "State"
        case status = "Status"
        case labels = "Labels"
    }
}

/// `POST /containers/{id}/wait` answer.
public struct ContainerWaitResponse: Codable, Sendable, Equatable {
    public var statusCode: Int
    public var error: WaitError?

    public struct WaitError: Codable, Sendable, Equatable {
        public var message: String?

        enum CodingKeys: String, CodingKey {
            case message = "Message"
        }
    }

    enum CodingKeys: String, CodingKey {
        case statusCode = "StatusCode"
        case error = "Error"
    }
}

/// Filters for `GET /containers/json` and `GET /events`, encoded as the engine's JSON map.
public struct DockerFilters: Sendable, Equatable {
    public var values: [String: [String]]

    public init(_ values: [String: [String]] = [:]) {
        self.values = values
    }

    /// Adds a `label` filter: `key` alone matches any value, `key=value` that value.
    public mutating func label(_ key: String, _ value: String? = nil) {
        values["label", default: []].append(value.map { "\(key)=\($0)" } ?? key)
    }

    public func adding(_ name: String, _ value: String) -> DockerFilters {
        var copy = self
        copy.values[name, default: []].append(value)
        return copy
    }

    var json: String {
        let sorted = values.mapValues { $0 }
        guard let data = try? JSONCoding.encoder.encode(sorted) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
