import Crypto
import Foundation

/// A secret key that signs attach tokens (HMAC-SHA256), with the public key id tokens carry.
///
/// Holds its bytes in a plain array rather than a `SymmetricKey` so the signer is `Sendable`
/// without `@unchecked` (swift-crypto 3.12's `SymmetricKey` is not `Sendable`); a `SymmetricKey`
/// is made for each operation. Its description shows the key id, never the bytes.
public struct AttachSigningKey: Sendable, CustomStringConvertible {
    /// The shortest key accepted: 32 bytes, the output size of SHA-256.
    public static let minimumByteCount = 32

    let bytes: [UInt8]
    /// The first 4 bytes of HMAC-SHA256(key, "sandcastle.attach.kid"): tells which key signed a
    /// token without revealing anything usable about the key.
    let id: [UInt8]

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
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("sandcastle.attach.kid".utf8), using: SymmetricKey(data: bytes))
        self.id = Array(Array(mac).prefix(4))
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

    var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }
}
