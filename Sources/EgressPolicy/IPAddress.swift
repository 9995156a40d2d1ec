#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address
/// it maps: every check sees the address the kernel will really connect to.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    /// 16 bytes, network order.
    case v6([UInt8])

    /// Parses a literal (`192.0.2.1`, `2001:db8::1`), without brackets or a zone; nil if it is none.
    public init?(_ text: String) {
        if text.contains(":") {
            var storage = in6_addr()
            guard inet_pton(AF_INET6, text, &storage) == 1 else { return nil }
            self.init(bytes: withUnsafeBytes(of: &storage) { Array($0) })
        } else {
            // inet_pton refuses the shorthand forms (`127.1`, `0x7f.1`) that inet_aton accepts:
            // a name like that is not an address and never reaches a resolver as one.
            var storage = in_addr()
            guard inet_pton(AF_INET, text, &storage) == 1 else { return nil }
            self = .v4(UInt32(bigEndian: storage.s_addr))
        }
    }

    /// From raw bytes: 4 for IPv4, 16 for IPv6 (an IPv4-mapped one becomes IPv4).
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                self = .v4(bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) })
            } else {
                self = .v6(bytes)
            }
        default:
            return nil
        }
    }

    public var isIPv4: Bool {
        if case .v4 = self { true } else { false }
    }

    /// The address's bytes in network order (4 or 16).
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value): [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
        case .v6(let bytes): bytes
        }
    }

    public var description: String {
        switch self {
        case .v4:
            return bytes.map(String.init).joined(separator: ".")
        case .v6(var bytes):
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &bytes, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

/// An address block: `10.0.0.0/8`, `fd00::/8`, or one address (`/32`, `/128`).
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The block's first address (host bits cleared).
    public let network: IPAddress
    public let prefixLength: Int

    /// nil when `prefixLength` does not fit the family.
    public init?(_ address: IPAddress, prefixLength: Int) {
        let bits = address.isIPv4 ? 32 : 128
        guard (0...bits).contains(prefixLength) else { return nil }
        self.prefixLength = prefixLength
        self.network = IPAddress(bytes: Self.masked(address.bytes, prefixLength))!
    }

    /// Parses `address/prefix` or a lone address.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 1 {
            self.init(address, prefixLength: address.isIPv4 ? 32 : 128)
            return
        }
        // An IPv4-mapped IPv6 block (`::ffff:10.0.0.0/104`) would need its prefix shifted; refuse it.
        guard String(parts[0]).contains(":") == !address.isIPv4, let length = Int(parts[1]),
            parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber)
        else { return nil }
        self.init(address, prefixLength: length)
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.isIPv4 == network.isIPv4 && Self.masked(address.bytes, prefixLength) == network.bytes
    }

    /// Whether every address of `other` is in this block.
    public func contains(_ other: CIDR) -> Bool {
        prefixLength <= other.prefixLength && contains(other.network)
    }

    public var description: String {
        prefixLength == (network.isIPv4 ? 32 : 128) ? network.description : "\(network)/\(prefixLength)"
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = max(0, min(8, length - index * 8))
            return keep == 8 ? byte : byte & ~(0xff >> keep)
        }
    }
}
