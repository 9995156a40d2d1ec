import AccessControl
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Files the daemon keeps in its state directory beside the database: its instance id, its
/// attach-token signing key, and the admin key it makes when the configuration names none.
enum DaemonState {
    /// Creates the state directory (0700) if missing.
    static func prepare(_ directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Takes the state directory's lock (`daemon.lock`, flock) or says who holds it.
    static func lock(_ directory: String) throws -> Int32 {
        let path = directory + "/daemon.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw DaemonError.startup("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw DaemonError.startup(
                "another sandcastled is running on the state directory \(directory); stop it first (its lock is \(path))")
        }
        return fd
    }

    /// A value kept in `name` (0600), made by `make` the first time. Throws when it cannot be kept:
    /// a value that changed at every start would cost the daemon its containers (the instance id)
    /// or void every token and key it handed out.
    static func persistent(_ name: String, in directory: String, make: () -> String) throws -> String {
        let path = directory + "/" + name
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            let trimmed = existing.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { return trimmed }
        }
        let value = make()
        guard FileManager.default.createFile(atPath: path, contents: Data((value + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw DaemonError.startup(
                "cannot write \(path), where the daemon keeps its \(name) across restarts; check that the state directory is writable and its disk not full")
        }
        return value
    }

    /// This daemon's stable identity: its containers carry it, and reconciliation touches only its own.
    static func instanceID(in directory: String) throws -> String {
        try persistent("instance-id", in: directory) { "sd-" + UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: "") }
    }

    /// The attach-token signing key: configured (hex), or generated once and kept.
    static func signingKey(configured: String?, in directory: String) throws -> AttachSigningKey {
        let hex = try configured ?? persistent("attach-token.key", in: directory) {
            AttachSigningKey.generateHex()
        }
        guard let bytes = Hex.decode(hex) else {
            throw DaemonError.configuration("the attach token key must be hex (at least 64 hex digits)")
        }
        return try AttachSigningKey(bytes: bytes)
    }

    /// With no API key configured, an admin key is made once and written to `admin.key` (0600), so
    /// the operator on this host can use the API and the CLI right away.
    static func bootstrapAdminKey(in directory: String) throws -> (entry: APIKeyEntry, path: String) {
        let key = try persistent("admin.key", in: directory) {
            (try? APIKeyring.generateKey(name: "local-admin", role: .admin).key) ?? "sc_" + UUID().uuidString
        }
        return (APIKeyEntry(name: "local-admin", sha256: APIKeyring.sha256Hex(of: key), role: .admin), directory + "/admin.key")
    }
}

enum Hex {
    static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension AttachSigningKey {
    static func generateHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Why the daemon cannot start.
public enum DaemonError: Error, CustomStringConvertible {
    case configuration(String)
    case startup(String)

    public var description: String {
        switch self {
        case .configuration(let message): "configuration: \(message)"
        case .startup(let message): message
        }
    }
}
