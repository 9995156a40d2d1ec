/// `GET /version`.
public struct EngineVersion: Codable, Sendable, Equatable {
    public var version: String
    public var apiVersion: String
    public var minAPIVersion: String?
    public var os: String?
    public var arch: String?
    public var kernelVersion: String?
    public var gitCommit: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
        case minAPIVersion = "MinAPIVersion"
        case os = "Os"
        case arch = "Arch"
        case kernelVersion = "KernelVersion"
        case gitCommit = "GitCommit"
    }
}

/// `GET /info`: the parts the daemon's `doctor` and readiness checks read.
public struct EngineInfo: Codable, Sendable, Equatable {
    public var id: String?
    public var name: String?
    public var serverVersion: String?
    public var driver: String?
    public var cgroupDriver: String?
    public var cgroupVersion: String?
    public var memoryLimit: Bool?
    public var swapLimit: Bool?
    public var pidsLimit: Bool?
    public var cpuCfsQuota: Bool?
    public var oomKillDisable: Bool?
    public var securityOptions: [String]?
    public var liveRestoreEnabled: Bool?
    public var containers: Int?
    public var containersRunning: Int?
    public var dockerRootDir: String?
    public var kernelVersion: String?
    public var operatingSystem: String?
    public var ncpu: Int?
    public var memTotal: Int64?
    public var initBinary: String?
    public var runcCommit: Commit?

    public struct Commit: Codable, Sendable, Equatable {
        public var id: String?
        public var expected: String?

        enum CodingKeys: String, CodingKey {
            case id = "ID"
            case expected = "Expected"
        }
    }

    /// Whether the engine reports seccomp among its security options (`name=seccomp,...`).
    public var seccompSupported: Bool {
        (securityOptions ?? []).contains { $0 == "seccomp" || $0.hasPrefix("name=seccomp") }
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case name = "Name"
        case serverVersion = "ServerVersion"
        case driver = "Driver"
        case cgroupDriver = "CgroupDriver"
        case cgroupVersion = "CgroupVersion"
        case memoryLimit = "MemoryLimit"
        case swapLimit = "SwapLimit"
        case pidsLimit = "PidsLimit"
        case cpuCfsQuota = "CpuCfsQuota"
        case oomKillDisable = "OomKillDisable"
        case securityOptions = "SecurityOptions"
        case liveRestoreEnabled = "LiveRestoreEnabled"
        case containers = "Containers"
        case containersRunning = "ContainersRunning"
        case dockerRootDir = "DockerRootDir"
        case kernelVersion = "KernelVersion"
        case operatingSystem = "OperatingSystem"
        case ncpu = "NCPU"
        case memTotal = "MemTotal"
        case initBinary = "InitBinary"
        case runcCommit = "RuncCommit"
    }
}

/// What `GET /_ping` tells: the engine's highest API version, from the `Api-Version` header.
public struct EnginePing: Sendable, Equatable {
    public var apiVersion: DockerAPIVersion?
    public var osType: String?

    public init(apiVersion: DockerAPIVersion?, osType: String?) {
        self.apiVersion = apiVersion
        self.osType = osType
    }
}

/// `GET /images/{name}/json`.
public struct ImageInspect: Codable, Sendable, Equatable {
    public var id: String
    public var repoTags: [String]?
    public var repoDigests: [String]?
    public var created: String?
    public var size: Int64?
    public var architecture: String?
    public var os: String?
    public var config: ImageConfig?

    public struct ImageConfig: Codable, Sendable, Equatable {
        public var user: String?
        public var env: [String]?
        public var cmd: [String]?
        public var entrypoint: [String]?
        public var workingDir: String?
        public var labels: [String: String]?

        enum CodingKeys: String, CodingKey {
            case user = "User"
            case env = "Env"
            case cmd = "Cmd"
            case entrypoint = "Entrypoint"
            case workingDir = "WorkingDir"
            case labels = "Labels"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case repoTags = "RepoTags"
        case repoDigests = "RepoDigests"
        case created = "Created"
        case size = "Size"
        case architecture = "Architecture"
        case os = "Os"
        case config = "Config"
    }
}

/// The engine's error body: `{"message": "..."}`.
struct EngineErrorBody: Decodable {
    var message: String

    static func message(from body: [UInt8]) -> String? {
        guard !body.isEmpty, let decoded = try? JSONCoding.decoder.decode(EngineErrorBody.self, from: body) else {
            return nil
        }
        return decoded.message
    }
}
