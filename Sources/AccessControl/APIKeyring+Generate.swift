/// A freshly generated API key, with what to put in the configuration for it.
public struct GeneratedAPIKey: Sendable {
    /// The key: `sc_` and 64 lowercase hex digits (32 random bytes). Show it once to whoever will
    /// use it; it is not stored anywhere. The prefix lets secret scanners recognise leaked keys.
    public var key: String
    /// The configuration entry for it (the key's hash, never the key).
    public var entry: APIKeyEntry

    /// The entry as a TOML inline table, e.g.
    /// `{ name = "web-tier", sha256 = "9f86…", role = "developer" }`.
    public var configLine: String {
        "{ name = \"\(entry.name)\", sha256 = \"\(entry.sha256)\", role = \"\(entry.role.rawValue)\" }"
    }
}

extension APIKeyring {
    /// The prefix of generated keys.
    public static let generatedKeyPrefix = "sc_"

    /// Generates a key from 32 bytes of `SystemRandomNumberGenerator` (the kernel's CSPRNG).
    ///
    /// - Throws: `invalidKeyName` when `name` would not be accepted in a keyring.
    public static func generateKey(name: String, role: Role) throws(AccessControlError) -> GeneratedAPIKey {
        var generator = SystemRandomNumberGenerator()
        return try generateKey(name: name, role: role, using: &generator)
    }

    /// Generates a key from 32 bytes of `generator`. Only tests should pass anything but a
    /// cryptographically secure generator.
    static func generateKey(
        name: String, role: Role, using generator: inout some RandomNumberGenerator
    ) throws(AccessControlError) -> GeneratedAPIKey {
        if let problem = nameProblem(name) {
            throw AccessControlError(code: .invalidKeyName, message: "cannot generate a key named '\(name)': \(problem)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            let word = generator.next()
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        let key = generatedKeyPrefix + ByteEncoding.hex(bytes)
        return GeneratedAPIKey(key: key, entry: APIKeyEntry(name: name, sha256: sha256Hex(of: key), role: role))
    }
}
