import Foundation

/// A session as the daemon's API shows it (`GET /v1/sessions/{id}`).
public struct Session: Codable, Sendable, Equatable {
    public var id: String
    public var state: String
    public var owner: String
    public var image: String
    public var profile: String
    public var workspace: String
    public var command: [String]
    public var envNames: [String]
    public var labels: [String: String]
    public var containerId: String?
    public var exitCode: Int?
    public var exitReason: String?
    public var error: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var lastActivityAt: Date
    public var ttlSeconds: Int?
    public var idleTimeoutSeconds: Int?
    /// The workspace's bytes and inodes against its limits (`GET /v1/sessions/{id}` only).
    public var workspaceUsage: WorkspaceUsage?
    /// The egress allow list and counters, while the session's proxy is open.
    public var egress: SessionEgress?
    /// The attach token a create asked for (`"attachToken": "rw"|"ro"` in its body).
    public var attachToken: AttachToken?
}

/// A session's egress: where it may connect through the daemon, and what it did so far.
public struct SessionEgress: Codable, Sendable, Equatable {
    public struct Counters: Codable, Sendable, Equatable {
        public var connections: Int
        public var active: Int
        public var denied: Int
        public var bytesUp: Int64
        public var bytesDown: Int64
    }

    public var allow: [String]
    public var counters: Counters
}

struct SessionPage: Decodable {
    var sessions: [Session]
    var next: String?
}

/// A session's screen as text (`GET /v1/sessions/{id}/screen`).
public struct Screen: Codable, Sendable, Equatable {
    public struct Size: Codable, Sendable, Equatable {
        public var columns: Int
        public var rows: Int
    }
    public struct Cursor: Codable, Sendable, Equatable {
        public var row: Int
        public var column: Int
        public var visible: Bool
    }
    public var session: String
    /// `terminal` (the live screen) or `log` (rebuilt from the container's log).
    public var source: String
    public var offset: UInt64?
    public var size: Size
    public var rows: [String]
    public var cursor: Cursor
    public var title: String
    public var alternateScreen: Bool
    public var modes: Modes

    /// The modes the program set (`GET /v1/sessions/{id}/screen` describes each).
    public struct Modes: Codable, Sendable, Equatable {
        public var applicationCursorKeys: Bool
        public var bracketedPaste: Bool
        public var mouseTracking: String
        public var mouseEncoding: String
        public var focusReporting: Bool
        public var autowrap: Bool
        public var originMode: Bool
        public var reverseVideo: Bool
        public var cursorBlink: Bool
        public var cursorShape: String
        /// First and last row, zero-based; absent for the whole screen.
        public var scrollRegion: [Int]?
    }

    /// The rows, trailing empty ones dropped, one per line (what `tmux capture-pane -p` prints).
    public var text: String {
        var lines = rows[...]
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n")
    }
}

/// A minted attach token (`POST /v1/sessions/{id}/attach-tokens`).
public struct AttachToken: Codable, Sendable, Equatable {
    public var token: String
    public var expiresAt: Date
    public var role: String
}

/// One entry of the event log, as `GET /v1/events` sends it.
public struct SessionEvent: Sendable {
    public var id: Int64
    public var type: String
    public var session: String?
    public var time: String
    /// The whole `data:` line: the event as JSON.
    public var json: String
}

/// What `POST /v1/admin/gc` found (and, unless a dry run, removed).
public struct GarbageReport: Codable, Sendable {
    public struct Container: Codable, Sendable {
        public var id: String
        public var name: String
        public var session: String?
        public var state: String
    }
    public var dryRun: Bool
    /// Containers of this daemon that no session wants.
    public var orphans: [Container]
    /// Container ids removed (empty on a dry run).
    public var removed: [String]
    /// Sandcastle containers of other daemon instances on the same engine: never touched.
    public var otherInstances: Int
}

struct ErrorBody: Decodable {
    struct Detail: Decodable {
        struct Problem: Decodable {
            var field: String
            var value: String?
            var message: String
        }
        var code: String
        var message: String
        var problems: [Problem]?
    }
    var error: Detail
}

extension JSONDecoder {
    /// Dates in ISO 8601, as the API sends them.
    static func api() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
