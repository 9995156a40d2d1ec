import Foundation

/// What an attach token lets its holder do on the terminal.
public enum AttachRole: String, Sendable, Hashable, CaseIterable, Codable {
    /// Sees output and types input.
    case readWrite = "rw"
    /// Sees output; input is dropped.
    case readOnly = "ro"

    /// The permission a key needs to mint a token of this role: `session:attach` to type into a
    /// terminal, `session:watch` (viewers have it) to watch one.
    public var mintPermission: Permission {
        switch self {
        case .readWrite: .sessionAttach
        case .readOnly: .sessionWatch
        }
    }

    /// Whether a token of this role satisfies a requirement of `required`: read-write grants
    /// both, read-only grants only read-only.
    public func grants(_ required: AttachRole) -> Bool {
        switch (self, required) {
        case (.readWrite, _), (.readOnly, .readOnly): true
        case (.readOnly, .readWrite): false
        }
    }
}

/// A minted attach token: hand `token` to the browser, `expiresAt` to the web tier.
public struct MintedAttachToken: Sendable, Hashable {
    public var token: String
    /// When it stops verifying (whole seconds).
    public var expiresAt: Date
}

/// What a verified token grants.
public struct VerifiedAttachToken: Sendable, Hashable {
    public var session: String
    public var role: AttachRole
    public var expiresAt: Date
    /// The id of the key that signed it (hex, safe to log).
    public var keyID: String
    /// Whether the previous key signed it: such tokens stop verifying when that key is dropped.
    public var signedWithPreviousKey: Bool
}

/// Why an attach token was refused. The detail is for the log; a client is told only that its
/// token was not accepted (`401`, or `403` for `wrongSession`/`wrongRole` if the API chooses), so
/// it cannot probe which check failed.
public enum AttachTokenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a token this signer could have made: too long, not two strict base64url parts, unknown
    /// version, bad field. The reason says which.
    case malformed(reason: String)
    /// Signed by no key this signer holds: forged, tampered with, or signed by a dropped key.
    case badSignature
    /// Valid, but expired at this instant.
    case expired(at: Date)
    /// Valid, but for another session.
    case wrongSession(expected: String, actual: String)
    /// Valid for the session, but read-only where read-write is required.
    case wrongRole(required: AttachRole, granted: AttachRole)

    public var description: String {
        switch self {
        case .malformed(let reason): "attach token malformed: \(reason)"
        case .badSignature: "attach token signature invalid (forged, altered, or signed by a key no longer held)"
        case .expired(let at): "attach token expired at \(at.formatted(.iso8601))"
        case .wrongSession(let expected, let actual):
            "attach token is for session '\(actual)', not '\(expected)'"
        case .wrongRole(let required, let granted):
            "attach token grants '\(granted.rawValue)' but '\(required.rawValue)' is required"
        }
    }
}

/// The signed part of a token, version 1. Binary, fixed layout, big-endian, so each token has one
/// encoding and no field can bleed into another:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | version, `0x01` |
/// | 1 | 4 | key id (`AttachSigningKey.keyID`) |
/// | 5 | 1 | role: `0x01` read-only, `0x02` read-write |
/// | 6 | 8 | expiry, unix seconds, signed |
/// | 14 | 2 | session id length *n*, 1 to `maxSessionBytes` |
/// | 16 | *n* | session id, UTF-8 |
///
/// Nothing may follow. The MAC is HMAC-SHA256 over `macContext` followed by these bytes.
struct AttachTokenPayload: Equatable {
    static let version: UInt8 = 1
    static let headerSize = 16
    static let maxSessionBytes = 256
    /// Prefixed to the payload under the MAC: keeps these MACs apart from any other use of the key.
    static let macContext = Array("sandcastle.attach.token\u{0}".utf8)

    var keyID: [UInt8]
    var role: AttachRole
    var expiry: Int64
    var session: [UInt8]

    func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.version]
        out.append(contentsOf: keyID)
        out.append(role == .readOnly ? 1 : 2)
        for shift in stride(from: 56, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: expiry >> Int64(shift)))
        }
        out.append(UInt8(truncatingIfNeeded: session.count >> 8))
        out.append(UInt8(truncatingIfNeeded: session.count))
        out.append(contentsOf: session)
        return out
    }

    init(keyID: [UInt8], role: AttachRole, expiry: Int64, session: [UInt8]) {
        self.keyID = keyID
        self.role = role
        self.expiry = expiry
        self.session = session
    }

    init(decoding bytes: [UInt8]) throws(AttachTokenError) {
        guard bytes.count >= Self.headerSize else {
            throw .malformed(reason: "payload is \(bytes.count) bytes, shorter than the \(Self.headerSize)-byte header")
        }
        guard bytes[0] == Self.version else {
            throw .malformed(reason: "unknown version \(bytes[0])")
        }
        keyID = Array(bytes[1..<5])
        switch bytes[5] {
        case 1: role = .readOnly
        case 2: role = .readWrite
        default: throw .malformed(reason: "unknown role byte \(bytes[5])")
        }
        expiry = bytes[6..<14].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard (1...Self.maxSessionBytes).contains(length), bytes.count == Self.headerSize + length else {
            throw .malformed(
                reason: "session length \(length) does not fit the payload of \(bytes.count) bytes")
        }
        session = Array(bytes[Self.headerSize...])
    }
}
