import DockerEngine

/// The parts of `GET /containers/{id}/json` that the read-back compares with the policy: decode the
/// whole inspect response into it (other keys are ignored).
public struct InspectedContainer: Decodable, Sendable, Equatable {
    public var config: ContainerConfig
    public var hostConfig: HostConfig
    /// The mounts the engine set up, as it reports them (anonymous volumes of an image's `VOLUME`
    /// show up here too).
    public var mounts: [InspectedMount]

    public init(config: ContainerConfig, hostConfig: HostConfig, mounts: [InspectedMount]) {
        self.config = config
        self.hostConfig = hostConfig
        self.mounts = mounts
    }

    enum CodingKeys: String, CodingKey {
        case config = "Config"
        case hostConfig = "HostConfig"
        case mounts = "Mounts"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        config = try container.decode(ContainerConfig.self, forKey: .config)
        hostConfig = try container.decode(HostConfig.self, forKey: .hostConfig)
        mounts = try container.decodeIfPresent([InspectedMount].self, forKey: .mounts) ?? []
    }
}

/// An entry of the inspect response's top-level `Mounts`: what the engine really mounted.
public typealias InspectedMount = MountPoint

extension InspectedContainer {
    /// The parts of a decoded inspect response the read-back compares. A response without `Config`
    /// or `HostConfig` compares as empty ones, which fails verification.
    public init(_ inspect: ContainerInspect) {
        self.init(config: inspect.config ?? ContainerConfig(), hostConfig: inspect.hostConfig ?? HostConfig(), mounts: inspect.mounts ?? [])
    }
}

/// A difference between the container the engine created and the policy.
public struct PolicyViolation: Sendable, Hashable, CustomStringConvertible {
    /// The inspect field, e.g. `HostConfig.CapDrop`, `Mounts[1]`.
    public var field: String
    public var expected: String
    public var actual: String

    public init(field: String, expected: String, actual: String) {
        self.field = field
        self.expected = expected
        self.actual = actual
    }

    public var description: String { "\(field): expected \(expected), engine reports \(actual)" }
}
