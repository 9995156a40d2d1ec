import Foundation

/// The kind of an event in the log. An open set (the column has no CHECK constraint) with the
/// types the API documents as constants.
public struct EventType: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let sessionCreated: EventType = "session.created"
    public static let sessionStarted: EventType = "session.started"
    public static let sessionExited: EventType = "session.exited"
    public static let sessionStopped: EventType = "session.stopped"
    public static let sessionRemoved: EventType = "session.removed"
    public static let sessionFailed: EventType = "session.failed"
    public static let sessionOOM: EventType = "session.oom"
    public static let ptyAttached: EventType = "pty.attached"
    public static let ptyDetached: EventType = "pty.detached"
    /// A workspace reached its byte or inode limit (daemon-wide when several sessions share it).
    public static let workspaceFull: EventType = "workspace.full"
}

/// An event read back from the log.
///
/// `id` is assigned by SQLite (`INTEGER PRIMARY KEY AUTOINCREMENT`): strictly increasing in commit
/// order, never reused, even after the newest rows are pruned. It is the SSE `id:` field, so
/// `Last-Event-ID` resumes with `events(after:limit:)`.
public struct Event: Sendable, Equatable, Identifiable {
    public var id: Int64
    /// The session the event is about; `nil` for daemon-wide events. Deliberately not a foreign
    /// key: the log outlives the session rows it mentions.
    public var sessionID: String?
    public var type: EventType
    public var time: Date
    /// A JSON document (text), written to SSE clients as is.
    public var payload: String
}

/// An event to append. The store assigns the id.
public struct NewEvent: Sendable, Equatable {
    public var type: EventType
    /// Ignored by `insertSession` and `transition`, which use their session's id.
    public var sessionID: String?
    public var time: Date
    /// JSON text; the schema refuses anything `json_valid` rejects.
    public var payload: String

    public init(type: EventType, sessionID: String? = nil, time: Date = Date(), payload: String = "{}") {
        self.type = type
        self.sessionID = sessionID
        self.time = time
        self.payload = payload
    }

    /// An event whose payload is `payload` encoded as JSON with sorted keys.
    public init(
        type: EventType, sessionID: String? = nil, time: Date = Date(), encoding payload: some Encodable
    ) throws {
        self.init(type: type, sessionID: sessionID, time: time, payload: try JSONCoding.text(payload))
    }
}

/// The JSON encoder of events' payloads (the session columns are written and read by `JSONText`).
enum JSONCoding {
    /// Sorted keys, so equal values give equal text.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func text(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
