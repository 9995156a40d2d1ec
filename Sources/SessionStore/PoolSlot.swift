import Foundation

/// One warm-pool slot: a pre-started container of one profile and image, and the host directory
/// bound into it at `/workspace`, onto which a session's workspace is mounted when it claims the
/// slot.
public struct PoolSlot: Sendable, Equatable, Hashable {
    public enum State: String, Sendable, Equatable, Hashable, CaseIterable {
        /// Recorded before the engine is asked for anything (crash safety, as for sessions).
        case creating
        /// Created, verified, started and attached: waiting for a claim.
        case ready
        /// Serving `sessionID`; never again another.
        case claimed
    }

    public var id: String
    public var profile: String
    public var image: String
    public var containerName: String
    public var containerID: String?
    /// The slot directory on the host (under the pool root).
    public var directory: String
    public var state: State
    public var sessionID: String?
    public var daemonInstance: String
    public var createdAt: Date
    public var claimedAt: Date?

    public init(
        id: String, profile: String, image: String, containerName: String, containerID: String? = nil,
        directory: String, state: State = .creating, sessionID: String? = nil, daemonInstance: String,
        createdAt: Date, claimedAt: Date? = nil
    ) {
        self.id = id
        self.profile = profile
        self.image = image
        self.containerName = containerName
        self.containerID = containerID
        self.directory = directory
        self.state = state
        self.sessionID = sessionID
        self.daemonInstance = daemonInstance
        self.createdAt = createdAt
        self.claimedAt = claimedAt
    }
}

/// How many ready containers of one profile's image the pool keeps, and how fast it replaces
/// them.
public struct PoolTarget: Sendable, Equatable, Hashable, Codable {
    public var profile: String
    public var image: String
    /// Ready containers wanted; 0 disables the pool of this profile.
    public var size: Int
    /// Containers created per minute at most, to fill or refill.
    public var refillPerMinute: Int

    public init(profile: String, image: String, size: Int, refillPerMinute: Int) {
        self.profile = profile
        self.image = image
        self.size = size
        self.refillPerMinute = refillPerMinute
    }
}
