/// A Docker Engine API version, `MAJOR.MINOR`.
public struct DockerAPIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            return nil
        }
        self.init(major: major, minor: minor)
    }

    /// The oldest engine API this client works with: Debian 12's engine 20.10.
    public static let minimum = DockerAPIVersion(major: 1, minor: 41)
    /// The newest engine API whose fields and behaviour this client has been written against.
    public static let maximum = DockerAPIVersion(major: 1, minor: 47)

    public static func < (lhs: DockerAPIVersion, rhs: DockerAPIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public var description: String { "\(major).\(minor)" }

    /// The highest version both sides speak, or an error naming both ranges.
    ///
    /// - Parameters:
    ///   - engineMaximum: the engine's `ApiVersion`.
    ///   - engineMinimum: the engine's `MinAPIVersion`, when it reports one.
    public static func negotiate(
        engineMaximum: DockerAPIVersion, engineMinimum: DockerAPIVersion?
    ) -> Result<DockerAPIVersion, NegotiationFailure> {
        if engineMaximum < minimum {
            return .failure(.engineTooOld(engine: engineMaximum))
        }
        if let engineMinimum, engineMinimum > maximum {
            return .failure(.engineTooNew(engineMinimum: engineMinimum))
        }
        return .success(Swift.min(engineMaximum, maximum))
    }

    public enum NegotiationFailure: Error, Equatable {
        case engineTooOld(engine: DockerAPIVersion)
        case engineTooNew(engineMinimum: DockerAPIVersion)
    }
}
