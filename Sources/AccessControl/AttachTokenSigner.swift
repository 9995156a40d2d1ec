import Crypto
import Foundation

/// Mints and verifies attach tokens: short-lived, HMAC-SHA256-signed grants to attach to one
/// session's terminal, read-write or read-only.
///
/// Token text: `base64url(payload) "." base64url(mac)`, no padding, strict decoding (see
/// `AttachTokenPayload` for the payload layout). The daemon both mints and verifies, on one
/// clock, so no clock-skew allowance is needed: `leeway` is zero unless configured.
///
/// Rotation: a signer holds a current key, which signs, and optionally the previous one, which
/// still verifies. `rotated(to:)` makes a new current key and keeps the old as previous; after
/// `maxTTL` no token signed by the previous key can still be valid, and `droppingPreviousKey()`
/// retires it. The signer is an immutable value: swap the whole signer to rotate.
public struct AttachTokenSigner: Sendable {
    /// The longest token `verify` reads, in bytes.
    public static let maxTokenBytes = 1024

    public let current: AttachSigningKey
    public private(set) var previous: AttachSigningKey?
    /// The longest lifetime a token gets; longer requests are shortened to it.
    public let maxTTL: Duration
    /// How long after its expiry a token is still accepted.
    public let leeway: Duration
    private let clock: any AccessClock

    /// - Parameters:
    ///   - current: signs new tokens and verifies.
    ///   - previous: only verifies; must differ from `current`.
    ///   - maxTTL: at least one second.
    ///   - leeway: not negative; zero by default (see the type's documentation).
    ///   - clock: wall time for expiry.
    /// - Throws: `invalidSigningKey` when `previous` is `current`; `invalidTTL` when `maxTTL` is
    ///   under a second or `leeway` is negative.
    public init(
        current: AttachSigningKey, previous: AttachSigningKey? = nil, maxTTL: Duration,
        leeway: Duration = .zero, clock: any AccessClock = SystemAccessClock()
    ) throws(AccessControlError) {
        if let previous, previous.bytes == current.bytes {
            throw AccessControlError(
                code: .invalidSigningKey,
                message: "the previous attach-token key is the current key (\(current.keyID)). Rotation needs a new "
                    + "current key; or leave the previous key out.")
        }
        guard maxTTL >= .seconds(1) else {
            throw AccessControlError(
                code: .invalidTTL, message: "the maximum attach-token TTL is \(maxTTL); it must be at least 1 second.")
        }
        guard leeway >= .zero else {
            throw AccessControlError(
                code: .invalidTTL, message: "the attach-token expiry leeway is \(leeway); it must not be negative.")
        }
        self.current = current
        self.previous = previous
        self.maxTTL = maxTTL
        self.leeway = leeway
        self.clock = clock
    }

    /// This signer with `newKey` as the current key and the current one as previous.
    public func rotated(to newKey: AttachSigningKey) throws(AccessControlError) -> AttachTokenSigner {
        try AttachTokenSigner(current: newKey, previous: current, maxTTL: maxTTL, leeway: leeway, clock: clock)
    }

    /// This signer without its previous key: tokens it signed stop verifying.
    public func droppingPreviousKey() -> AttachTokenSigner {
        var copy = self
        copy.previous = nil
        return copy
    }

    /// Signs a token for `session` with `role` that expires after `ttl`, shortened to `maxTTL`.
    ///
    /// The expiry is whole unix seconds, rounded down: the token lives at most `ttl` and at least
    /// `ttl` minus one second.
    ///
    /// - Throws: `invalidTTL` when `ttl` is under one second (zero and negative included; nothing is
    ///   minted); `invalidSessionID` when `session` is empty or longer than 256 UTF-8 bytes.
    public func mint(session: String, role: AttachRole, ttl: Duration) throws(AccessControlError) -> MintedAttachToken {
        guard ttl >= .seconds(1) else {
            throw AccessControlError(
                code: .invalidTTL, message: "an attach-token TTL of \(ttl) was requested; it must be at least 1 second.")
        }
        let sessionBytes = Array(session.utf8)
        guard (1...AttachTokenPayload.maxSessionBytes).contains(sessionBytes.count) else {
            throw AccessControlError(
                code: .invalidSessionID,
                message: "an attach token cannot name a session id of \(sessionBytes.count) bytes; "
                    + "it must be 1 to \(AttachTokenPayload.maxSessionBytes).")
        }
        let lifetime = min(ttl, maxTTL).seconds
        let expiry = Int64((clock.now().timeIntervalSince1970 + lifetime).rounded(.down))
        let payload = AttachTokenPayload(keyID: current.id, role: role, expiry: expiry, session: sessionBytes).encoded()
        let mac = current.code(for: AttachTokenPayload.macContext + payload)
        let token = ByteEncoding.base64URL(payload) + "." + ByteEncoding.base64URL(Array(mac))
        return MintedAttachToken(token: token, expiresAt: Date(timeIntervalSince1970: TimeInterval(expiry)))
    }

    /// Checks `token` and returns what it grants.
    ///
    /// In order: well-formed (at most `maxTokenBytes`, two strict base64url parts, a known
    /// layout); signed by the current or the previous key (constant-time MAC comparison); not
    /// expired (now < expiry + leeway); for `session` (byte-for-byte); granting `requiredRole`
    /// when one is given (read-only never grants read-write).
    public func verify(
        token: String, session: String, requiredRole: AttachRole?
    ) throws(AttachTokenError) -> VerifiedAttachToken {
        let text = token.utf8
        guard !text.isEmpty else { throw .malformed(reason: "empty") }
        guard text.count <= Self.maxTokenBytes else {
            throw .malformed(reason: "\(text.count) bytes; the limit is \(Self.maxTokenBytes)")
        }
        // By bytes: splitting the string by `Character` cost more than the HMAC.
        let dots = text.reduce(0) { $0 + ($1 == UInt8(ascii: ".") ? 1 : 0) }
        guard dots == 1, let dot = text.firstIndex(of: UInt8(ascii: ".")) else {
            throw .malformed(reason: "\(dots + 1) dot-separated parts; a token has 2")
        }
        guard let payloadBytes = ByteEncoding.bytes(fromBase64URL: token[..<dot]) else {
            throw .malformed(reason: "payload is not strict unpadded base64url")
        }
        guard let macBytes = ByteEncoding.bytes(fromBase64URL: token[token.utf8.index(after: dot)...]) else {
            throw .malformed(reason: "signature is not strict unpadded base64url")
        }
        guard macBytes.count == SHA256.byteCount else {
            throw .malformed(reason: "signature is \(macBytes.count) bytes; HMAC-SHA256 gives \(SHA256.byteCount)")
        }
        let payload = try AttachTokenPayload(decoding: payloadBytes)

        let signedData = AttachTokenPayload.macContext + payloadBytes
        var signer: AttachSigningKey?
        for key in [current, previous].compactMap({ $0 }) where key.id == payload.keyID {
            if key.isValidCode(macBytes, for: signedData) {
                signer = key
                break
            }
        }
        guard let signer else { throw .badSignature }

        let expiresAt = Date(timeIntervalSince1970: TimeInterval(payload.expiry))
        guard clock.now() < expiresAt.addingTimeInterval(leeway.seconds) else {
            throw .expired(at: expiresAt)
        }
        let tokenSession = String(decoding: payload.session, as: UTF8.self)
        guard payload.session.elementsEqual(session.utf8) else {
            throw .wrongSession(expected: session, actual: tokenSession)
        }
        if let requiredRole, !payload.role.grants(requiredRole) {
            throw .wrongRole(required: requiredRole, granted: payload.role)
        }
        return VerifiedAttachToken(
            session: tokenSession, role: payload.role, expiresAt: expiresAt, keyID: signer.keyID,
            signedWithPreviousKey: signer.bytes != current.bytes)
    }
}
