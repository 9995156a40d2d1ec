#if canImport(Glibc)
import Glibc
#endif
import EgressPolicy
import Foundation

/// Names the proxy resolves without DNS: an `/etc/hosts`-format file (`address name...` per line,
/// `#` comments) from the daemon's configuration. A name listed there resolves only to its listed
/// addresses; those are checked like any other.
public struct EgressNameMap: Sendable, Equatable {
    public let addresses: [String: [IPAddress]]

    public init(_ addresses: [String: [IPAddress]] = [:]) {
        self.addresses = addresses
    }

    /// Parses hosts-file text; a bad line is an error naming its number.
    public static func parse(_ text: String, file: String) throws(EgressProxyError) -> EgressNameMap {
        var map: [String: [IPAddress]] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first else { continue }
            guard let address = IPAddress(first), fields.count > 1 else {
                throw EgressProxyError("\(file):\(index + 1): expected an IP address and at least one name")
            }
            for name in fields.dropFirst() {
                guard HostName.problem(name) == nil else {
                    throw EgressProxyError("\(file):\(index + 1): \(name) is not a host name")
                }
                map[HostName.normalized(name), default: []].append(address)
            }
        }
        return EgressNameMap(map)
    }

    public static func load(file: String) throws(EgressProxyError) -> EgressNameMap {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw EgressProxyError("cannot read the egress hosts file \(file)")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: file)
    }
}

/// The proxy's failure to start or to open a session's socket.
public struct EgressProxyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

enum SystemResolver {
    /// getaddrinfo: blocking, so only ever called on the proxy's thread pool.
    static func resolve(_ name: String) throws(EgressProxyError) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &result)
        guard status == 0 else {
            throw EgressProxyError("cannot resolve \(name): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var addresses: [IPAddress] = []
        var cursor = result
        while let entry = cursor {
            if let address = entry.pointee.ai_addr.flatMap(ipAddress), !addresses.contains(address) {
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// The host's own addresses (every interface's), refused as destinations unless listed.
    static func hostAddresses() -> Set<IPAddress> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var addresses: Set<IPAddress> = []
        var cursor = list
        while let entry = cursor {
            if let address = entry.pointee.ifa_addr.flatMap(ipAddress) { addresses.insert(address) }
            cursor = entry.pointee.ifa_next
        }
        return addresses
    }

    private static func ipAddress(_ pointer: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                IPAddress.v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
            }
        case AF_INET6:
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var address = sin6.pointee.sin6_addr
                return IPAddress(bytes: withUnsafeBytes(of: &address) { Array($0) })
            }
        default:
            return nil
        }
    }
}
