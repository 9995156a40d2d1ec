import Crypto
import Foundation

/// A secret key that signs attach tokens (HMAC-SHA256), with the public key id tokens carry.
///
/// Holds its bytes in a plain array rather than a `SymmetricKey` (swift-crypto 3.12's
/// `SymmetricKey` is not `Sendable`), and the HMAC keyed with them (`KeyedHMAC`). Its description
/// shows the key id, never the bytes.
public struct AttachSigningKey: Sendable, CustomStringConvertible {
    /// The shortest key accepted: 32 bytes, the output size of SHA-256.
    public static let minimumByteCount = 32

    let bytes: [UInt8]
    /// The first 4 bytes of HMAC-SHA256(key, "sandcastle.attach.kid"): tells which key signed a
    /// token without revealing anything usable about the key.
    let id: [UInt8]
    private let keyed: KeyedHMAC

    /// Uses `bytes` (a `[UInt8]`, `Data` or `SymmetricKey`) as a signing key.
    ///
    /// - Throws: `invalidSigningKey` when `bytes` is shorter than `minimumByteCount`.
    public init(bytes: some ContiguousBytes) throws(AccessControlError) {
        let copy = bytes.withUnsafeBytes { Array($0) }
        guard copy.count >= Self.minimumByteCount else {
            throw AccessControlError(
                code: .invalidSigningKey,
                message: "the attach-token signing key is \(copy.count) bytes; at least \(Self.minimumByteCount) "
                    + "random bytes are required. Generate one with `head -c 32 /dev/urandom`.")
        }
        self.init(validated: copy)
    }

    private init(validated bytes: [UInt8]) {
        self.bytes = bytes
        keyed = KeyedHMAC(key: bytes)
        self.id = Array(keyed.code(for: Array("sandcastle.attach.kid".utf8)).prefix(4))
    }

    /// A new random 32-byte key.
    public static func generate() -> AttachSigningKey {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<minimumByteCount { bytes.append(generator.next()) }
        return AttachSigningKey(validated: bytes)
    }

    /// The key id in hex, safe to log.
    public var keyID: String { ByteEncoding.hex(id) }

    public var description: String { "AttachSigningKey(id: \(keyID))" }

    /// HMAC-SHA256 of `data` under this key.
    func code(for data: [UInt8]) -> HashedAuthenticationCode<SHA256> { keyed.code(for: data) }

    /// Whether `code` is this key's HMAC-SHA256 of `data`, compared in constant time.
    func isValidCode(_ code: [UInt8], for data: [UInt8]) -> Bool { keyed.code(for: data) == code }
}

/// HMAC-SHA256 keyed once: the key's two padded blocks are hashed when the key is made, and each
/// code starts from a copy of that state (keying anew took about a third of a token's signing or
/// checking).
///
/// `@unchecked Sendable` because swift-crypto's `HMAC` is not marked `Sendable`, although sharing
/// this one is safe: `template` is never changed after `init`. `HMAC<SHA256>` is a value whose two
/// digest states are copy-on-write (swift-crypto copies a state before updating one it does not
/// hold alone, and finalizes from a copy), so every code works on states of its own, and the
/// template's are only ever read.
private struct KeyedHMAC: @unchecked Sendable {
    private let template: HMAC<SHA256>

    init(key: [UInt8]) {
        template = HMAC(key: SymmetricKey(data: key))
    }

    func code(for data: [UInt8]) -> HashedAuthenticationCode<SHA256> {
        var mac = template
        mac.update(data: data)
        return mac.finalize()
    }
}
