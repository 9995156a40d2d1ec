import Crypto
import Foundation

/// One configured API key: a name, the SHA-256 of the key (never the key itself) and a role.
public struct APIKeyEntry: Sendable, Hashable, Codable {
    /// 1 to 64 characters of `[A-Za-z0-9._-]`: it appears in logs, metrics labels and rate-limit keys.
    public var name: String
    /// Hex of the SHA-256 of the key's UTF-8 bytes, 64 characters (either case; kept lowercase).
    public var sha256: String
    public var role: Role

    public init(name: String, sha256: String, role: Role) {
        self.name = name
        self.sha256 = sha256
        self.role = role
    }
}

/// The configured API keys, and the check of a presented key against them.
///
/// Keys are stored only as SHA-256 digests. `authenticate` hashes the presented key and compares
/// the digest with every stored digest, always all of them and every byte of each, and picks the
/// match without branching on it, so its running time depends only on the number of entries and
/// the length of the presented key: not on which entry matched, nor on how many bytes did.
public struct APIKeyring: Sendable {
    /// The entries, in configuration order, with `sha256` in lowercase.
    public let entries: [APIKeyEntry]
    /// All digests back to back, `SHA256.byteCount` bytes each, in `entries` order.
    private let digests: [UInt8]

    /// The longest entry name accepted.
    public static let maxNameLength = 64

    /// Validates `entries` and reports every problem at once, each naming its entry: a name that is
    /// empty, too long or has other characters than `[A-Za-z0-9._-]`; a `sha256` that is not 64
    /// hex digits; two entries with the same name; two entries with the same digest.
    ///
    /// An empty list is accepted: then no key authenticates.
    public init(entries: [APIKeyEntry]) throws(AccessControlError) {
        var problems: [String] = []
        var normalized: [APIKeyEntry] = []
        var digests: [UInt8] = []
        var firstWithName: [String: Int] = [:]
        var firstWithDigest: [[UInt8]: Int] = [:]
        for (position, entry) in entries.enumerated() {
            let label = "entry #\(position + 1) ('\(entry.name)')"
            if let problem = Self.nameProblem(entry.name) {
                problems.append("\(label): \(problem)")
            }
            if let earlier = firstWithName[entry.name] {
                problems.append(
                    "\(label): the name is already used by entry #\(earlier + 1). Names must be unique; rename one.")
            } else {
                firstWithName[entry.name] = position
            }
            guard entry.sha256.utf8.count == 2 * SHA256.byteCount,
                let digest = ByteEncoding.bytes(fromHex: entry.sha256)
            else {
                let found = entry.sha256.utf8.count == 2 * SHA256.byteCount
                    ? "a non-hex digit" : "\(entry.sha256.count) characters"
                problems.append(
                    "\(label): sha256 must be the 64 hex digits of the key's SHA-256 (got \(found)). Put the hash "
                        + "in the configuration, never the key; `sha256sum` of the key without a newline gives it.")
                continue
            }
            if let earlier = firstWithDigest[digest] {
                problems.append(
                    "\(label): has the same sha256 as entry #\(earlier + 1) ('\(entries[earlier].name)'), so one key "
                        + "would authenticate as both. Give each client a key of its own.")
            } else {
                firstWithDigest[digest] = position
            }
            var entry = entry
            entry.sha256 = ByteEncoding.hex(digest)
            normalized.append(entry)
            digests.append(contentsOf: digest)
        }
        guard problems.isEmpty else {
            let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
            throw AccessControlError(
                code: .invalidKeyring,
                message: "the API key list was refused (\(count)):\n"
                    + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
        self.entries = normalized
        self.digests = digests
    }

    /// The principal whose key is `presentedKey`, or nil when no entry's digest matches.
    ///
    /// Constant-time with respect to the stored digests: see the type's documentation. Pass the
    /// key as `parseBearer(authorizationHeader:)` returned it; a key is hashed as its UTF-8 bytes.
    public func authenticate(presentedKey: String) -> Principal? {
        let presented = Array(SHA256.hash(data: Array(presentedKey.utf8)))
        let width = SHA256.byteCount
        var found: UInt = 0
        var matchIndex: UInt = 0
        for entryIndex in 0..<entries.count {
            var difference: UInt8 = 0
            let base = entryIndex * width
            for byteIndex in 0..<width {
                difference |= digests[base + byteIndex] ^ presented[byteIndex]
            }
            // 1 when difference == 0, else 0, with no branch: 0 - 1 borrows into the top bit.
            let isMatch = (UInt(difference) &- 1) >> (UInt.bitWidth - 1)
            let mask = 0 &- isMatch
            found |= isMatch
            matchIndex |= UInt(entryIndex) & mask
        }
        // Digests are unique, so at most one entry matched. Branching on `found` reveals only
        // whether authentication succeeded, which the response reveals anyway.
        guard found == 1 else { return nil }
        let entry = entries[Int(matchIndex)]
        return Principal(name: entry.name, role: entry.role)
    }

    /// The lowercase hex SHA-256 of `key`'s UTF-8 bytes: the `sha256` value to configure for it.
    public static func sha256Hex(of key: String) -> String {
        ByteEncoding.hex(SHA256.hash(data: Array(key.utf8)))
    }

    /// Why `name` is not an acceptable entry name, or nil when it is.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the name is empty. Name each key after its client, e.g. `web-tier`." }
        if name.utf8.count > maxNameLength {
            return "the name is \(name.utf8.count) bytes long; the limit is \(maxNameLength)."
        }
        let allowed = name.utf8.allSatisfy { char in
            switch char {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
        guard allowed else {
            return "the name may only contain letters, digits, '.', '_' and '-' (it appears in logs and metrics)."
        }
        return nil
    }
}
