/// The body of `POST /containers/create` and the `Config` part of `GET /containers/{id}/json`.
///
/// Field names follow the Docker Engine API (v1.41) exactly. Every field is optional so that a
/// body built by our code carries only what we set, and a container read back decodes whatever the
/// engine reports.
public struct ContainerConfig: Codable, Sendable, Equatable {
    public var hostname: String?
    public var user: String?
    public var attachStdin: Bool?
    public var attachStdout: Bool?
    public var attachStderr: Bool?
    public var tty: Bool?
    public var openStdin: Bool?
    public var stdinOnce: Bool?
    public var env: [String]?
    public var cmd: [String]?
    public var entrypoint: [String]?
    public var image: String?
    public var workingDir: String?
    public var labels: [String: String]?
    public var networkDisabled: Bool?
    public var stopSignal: String?
    public var stopTimeout: Int?
    public var hostConfig: HostConfig?

    public init(
        hostname: String? = nil, user: String? = nil, attachStdin: Bool? = nil,
        attachStdout: Bool? = nil, attachStderr: Bool? = nil, tty: Bool? = nil,
        openStdin: Bool? = nil, stdinOnce: Bool? = nil, env: [String]? = nil, cmd: [String]? = nil,
        entrypoint: [String]? = nil, image: String? = nil, workingDir: String? = nil,
        labels: [String: String]? = nil, networkDisabled: Bool? = nil, stopSignal: String? = nil,
        stopTimeout: Int? = nil, hostConfig: HostConfig? = nil
    ) {
        self.hostname = hostname
        self.user = user
        self.attachStdin = attachStdin
        self.attachStdout = attachStdout
        self.attachStderr = attachStderr
        self.tty = tty
        self.openStdin = openStdin
        self.stdinOnce = stdinOnce
        self.env = env
        self.cmd = cmd
        self.entrypoint = entrypoint
        self.image = image
        self.workingDir = workingDir
        self.labels = labels
        self.networkDisabled = networkDisabled
        self.stopSignal = stopSignal
        self.stopTimeout = stopTimeout
        self.hostConfig = hostConfig
    }

    enum CodingKeys: String, CodingKey {
        case hostname = "Hostname"
        case user = "User"
        case attachStdin = "AttachStdin"
        case attachStdout = "AttachStdout"
        case attachStderr = "AttachStderr"
        case tty = "Tty"
        case openStdin = "OpenStdin"
        case stdinOnce = "StdinOnce"
        case env = "Env"
        case cmd = "Cmd"
        case entrypoint = "Entrypoint"
        case image = "Image"
        case workingDir = "WorkingDir"
        case labels = "Labels"
        case networkDisabled = "NetworkDisabled"
        case stopSignal = "StopSignal"
        case stopTimeout = "StopTimeout"
        case hostConfig = "HostConfig"
    }
}

/// `HostConfig`: the resource limits and isolation settings of a container.
///
/// Only the fields Sandcastle sets or must read back to verify its policy are modelled. Fields that
/// the engine reports but we never set (for example `Binds`, `Devices`, `Sysctls`) are still decoded,
/// so a read-back can refuse a container on which any of them is non-empty.
public struct HostConfig: Codable, Sendable, Equatable {
    public var privileged: Bool?
    public var capAdd: [String]?
    public var capDrop: [String]?
    public var securityOpt: [String]?
    public var networkMode: String?
    public var ipcMode: String?
    public var pidMode: String?
    public var utsMode: String?
    public var usernsMode: String?
    public var cgroupnsMode: String?
    public var readonlyRootfs: Bool?
    public var tmpfs: [String: String]?
    public var mounts: [Mount]?
    public var binds: [String]?
    public var volumesFrom: [String]?
    public var memory: Int64?
    public var memorySwap: Int64?
    public var memorySwappiness: Int64?
    public var nanoCpus: Int64?
    public var pidsLimit: Int64?
    public var ulimits: [Ulimit]?
    public var devices: [DeviceMapping]?
    public var deviceCgroupRules: [String]?
    public var oomScoreAdj: Int?
    public var logConfig: LogConfig?
    public var `init`: Bool?
    public var maskedPaths: [String]?
    public var readonlyPaths: [String]?
    public var restartPolicy: RestartPolicy?
    public var autoRemove: Bool?
    public var shmSize: Int64?
    public var sysctls: [String: String]?
    public var runtime: String?
    public var extraHosts: [String]?
    public var portBindings: [String: [PortBinding]?]?
    public var publishAllPorts: Bool?
    public var groupAdd: [String]?
    public var oomKillDisable: Bool?

    public init(
        privileged: Bool? = nil, capAdd: [String]? = nil, capDrop: [String]? = nil,
        securityOpt: [String]? = nil, networkMode: String? = nil, ipcMode: String? = nil,
        pidMode: String? = nil, utsMode: String? = nil, usernsMode: String? = nil,
        cgroupnsMode: String? = nil, readonlyRootfs: Bool? = nil, tmpfs: [String: String]? = nil,
        mounts: [Mount]? = nil, binds: [String]? = nil, volumesFrom: [String]? = nil,
        memory: Int64? = nil, memorySwap: Int64? = nil, memorySwappiness: Int64? = nil,
        nanoCpus: Int64? = nil, pidsLimit: Int64? = nil, ulimits: [Ulimit]? = nil,
        devices: [DeviceMapping]? = nil, deviceCgroupRules: [String]? = nil, oomScoreAdj: Int? = nil,
        logConfig: LogConfig? = nil, init: Bool? = nil, maskedPaths: [String]? = nil,
        readonlyPaths: [String]? = nil, restartPolicy: RestartPolicy? = nil, autoRemove: Bool? = nil,
        shmSize: Int64? = nil, sysctls: [String: String]? = nil, runtime: String? = nil,
        extraHosts: [String]? = nil, portBindings: [String: [PortBinding]?]? = nil,
        publishAllPorts: Bool? = nil, groupAdd: [String]? = nil, oomKillDisable: Bool? = nil
    ) {
        self.privileged = privileged
        self.capAdd = capAdd
        self.capDrop = capDrop
        self.securityOpt = securityOpt
        self.networkMode = networkMode
        self.ipcMode = ipcMode
        self.pidMode = pidMode
        self.utsMode = utsMode
        self.usernsMode = usernsMode
        self.cgroupnsMode = cgroupnsMode
        self.readonlyRootfs = readonlyRootfs
        self.tmpfs = tmpfs
        self.mounts = mounts
        self.binds = binds
        self.volumesFrom = volumesFrom
        self.memory = memory
        self.memorySwap = memorySwap
        self.memorySwappiness = memorySwappiness
        self.nanoCpus = nanoCpus
        self.pidsLimit = pidsLimit
        self.ulimits = ulimits
        self.devices = devices
        self.deviceCgroupRules = deviceCgroupRules
        self.oomScoreAdj = oomScoreAdj
        self.logConfig = logConfig
        self.`init` = `init`
        self.maskedPaths = maskedPaths
        self.readonlyPaths = readonlyPaths
        self.restartPolicy = restartPolicy
        self.autoRemove = autoRemove
        self.shmSize = shmSize
        self.sysctls = sysctls
        self.runtime = runtime
        self.extraHosts = extraHosts
        self.portBindings = portBindings
        self.publishAllPorts = publishAllPorts
        self.groupAdd = groupAdd
        self.oomKillDisable = oomKillDisable
    }

    enum CodingKeys: String, CodingKey {
        case privileged = "Privileged"
        case capAdd = "CapAdd"
        case capDrop = "CapDrop"
        case securityOpt = "SecurityOpt"
        case networkMode = "NetworkMode"
        case ipcMode = "IpcMode"
        case pidMode = "PidMode"
        case utsMode = "UTSMode"
        case usernsMode = "UsernsMode"
        case cgroupnsMode = "CgroupnsMode"
        case readonlyRootfs = "ReadonlyRootfs"
        case tmpfs = "Tmpfs"
        case mounts = "Mounts"
        case binds = "Binds"
        case volumesFrom = "VolumesFrom"
        case memory = "Memory"
        case memorySwap = "MemorySwap"
        case memorySwappiness = "MemorySwappiness"
        case nanoCpus = "NanoCpus"
        case pidsLimit = "PidsLimit"
        case ulimits = "Ulimits"
        case devices = "Devices"
        case deviceCgroupRules = "DeviceCgroupRules"
        case oomScoreAdj = "OomScoreAdj"
        case logConfig = "LogConfig"
        case `init` = "Init"
        case maskedPaths = "MaskedPaths"
        case readonlyPaths = "ReadonlyPaths"
        case restartPolicy = "RestartPolicy"
        case autoRemove = "AutoRemove"
        case shmSize = "ShmSize"
        case sysctls = "Sysctls"
        case runtime = "Runtime"
        case extraHosts = "ExtraHosts"
        case portBindings = "PortBindings"
        case publishAllPorts = "PublishAllPorts"
        case groupAdd = "GroupAdd"
        case oomKillDisable = "OomKillDisable"
    }
}

/// An entry of `HostConfig.Mounts` (the structured mount API; never `Binds`).
public struct Mount: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case bind, volume, tmpfs, npipe
    }

    public var type: Kind
    public var source: String?
    public var target: String
    public var readOnly: Bool?
    public var bindOptions: BindOptions?
    public var tmpfsOptions: TmpfsOptions?

    public init(
        type: Kind, source: String? = nil, target: String, readOnly: Bool? = nil,
        bindOptions: BindOptions? = nil, tmpfsOptions: TmpfsOptions? = nil
    ) {
        self.type = type
        self.source = source
        self.target = target
        self.readOnly = readOnly
        self.bindOptions = bindOptions
        self.tmpfsOptions = tmpfsOptions
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case source = "Source"
        case target = "Target"
        case readOnly = "ReadOnly"
        case bindOptions = "BindOptions"
        case tmpfsOptions = "TmpfsOptions"
    }

    public struct BindOptions: Codable, Sendable, Equatable {
        public var propagation: Propagation?
        public var nonRecursive: Bool?

        public init(propagation: Propagation? = nil, nonRecursive: Bool? = nil) {
            self.propagation = propagation
            self.nonRecursive = nonRecursive
        }

        enum CodingKeys: String, CodingKey {
            case propagation = "Propagation"
            case nonRecursive = "NonRecursive"
        }
    }

    public struct TmpfsOptions: Codable, Sendable, Equatable {
        public var sizeBytes: Int64?
        public var mode: Int?

        public init(sizeBytes: Int64? = nil, mode: Int? = nil) {
            self.sizeBytes = sizeBytes
            self.mode = mode
        }

        enum CodingKeys: String, CodingKey {
            case sizeBytes = "SizeBytes"
            case mode = "Mode"
        }
    }

    /// Bind propagation modes (`mount(8)`): Sandcastle uses `rprivate` for sessions and `rslave`
    /// for warm-pool slots.
    public enum Propagation: String, Codable, Sendable {
        case `private`, rprivate, shared, rshared, slave, rslave
    }
}

public struct Ulimit: Codable, Sendable, Equatable {
    public var name: String
    public var soft: Int64
    public var hard: Int64

    public init(name: String, soft: Int64, hard: Int64) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case soft = "Soft"
        case hard = "Hard"
    }
}

public struct DeviceMapping: Codable, Sendable, Equatable {
    public var pathOnHost: String?
    public var pathInContainer: String?
    public var cgroupPermissions: String?

    public init(pathOnHost: String? = nil, pathInContainer: String? = nil, cgroupPermissions: String? = nil) {
        self.pathOnHost = pathOnHost
        self.pathInContainer = pathInContainer
        self.cgroupPermissions = cgroupPermissions
    }

    enum CodingKeys: String, CodingKey {
        case pathOnHost = "PathOnHost"
        case pathInContainer = "PathInContainer"
        case cgroupPermissions = "CgroupPermissions"
    }
}

public struct LogConfig: Codable, Sendable, Equatable {
    public var type: String
    public var config: [String: String]?

    public init(type: String, config: [String: String]? = nil) {
        self.type = type
        self.config = config
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case config = "Config"
    }
}

public struct RestartPolicy: Codable, Sendable, Equatable {
    public var name: String
    public var maximumRetryCount: Int?

    public init(name: String, maximumRetryCount: Int? = nil) {
        self.name = name
        self.maximumRetryCount = maximumRetryCount
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case maximumRetryCount = "MaximumRetryCount"
    }
}

public struct PortBinding: Codable, Sendable, Equatable {
    public var hostIp: String?
    public var hostPort: String?

    enum CodingKeys: String, CodingKey {
        case hostIp = "HostIp"
        case hostPort = "HostPort"
    }
}
