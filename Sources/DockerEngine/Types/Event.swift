/// One object of `GET /events`.
public struct DockerEvent: Codable, Sendable, Equatable {
    /// `container`, `image`, `network`, ...
    public var type: String
    /// `create`, `start`, `die`, `oom`, `destroy`, `kill`, ... (`exec_start: sh` carries a suffix).
    public var action: String
    public var actor: Actor
    public var scope: String?
    /// Seconds since the epoch.
    public var time: Int64?
    public var timeNano: Int64?

    public struct Actor: Codable, Sendable, Equatable {
        public var id: String
        /// Container labels, plus `name`, `image` and, on `die`, `exitCode`.
        public var attributes: [String: String]?

        enum CodingKeys: String, CodingKey {
            case id = "ID"
            case attributes = "Attributes"
        }
    }

    /// The exit code carried by a `die` event.
    public var exitCode: Int? {
        actor.attributes?["exitCode"].flatMap { Int($0) }
    }

    enum CodingKeys: String, CodingKey {
        case type = "Type"
        case action = "Action"
        case actor = "Actor"
        case scope
        case time
        case timeNano
    }
}
