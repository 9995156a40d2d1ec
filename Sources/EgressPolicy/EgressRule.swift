/// One entry of an egress allow list: a destination and the ports it may be reached on.
///
/// Written `host:port` or `host:first-last`, where host is an exact name (`api.anthropic.com`),
/// a suffix wildcard (`*.npmjs.org`: any name below npmjs.org, not npmjs.org itself), an IP
/// literal or a CIDR block (`192.0.2.7`, `10.0.0.0/8`, `[2001:db8::/32]`; IPv6 in brackets).
public struct EgressRule: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        /// A lower-case host name.
        case name(String)
        /// `*.suffix`: names ending in `.suffix` (the suffix in lower case, without `*.`).
        case below(String)
        case block(CIDR)
    }

    public let host: Host
    public let ports: ClosedRange<Int>
    /// The entry as written.
    public let text: String

    public var description: String { text }

    /// Parses one entry, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<EgressRule, EgressRuleError> {
        func failure(_ reason: String) -> Result<EgressRule, EgressRuleError> { .failure(EgressRuleError(reason)) }
        guard let colon = text.lastIndex(of: ":") else {
            return failure("needs a port: write host:port or host:first-last (e.g. api.anthropic.com:443)")
        }
        var hostText = String(text[..<colon])
        guard let ports = parsePorts(String(text[text.index(after: colon)...])) else {
            return failure("the port must be 1-65535, or a range first-last within it")
        }
        if hostText.hasPrefix("[") {
            guard hostText.hasSuffix("]"), hostText.count > 2 else { return failure("an IPv6 literal is written [address]:port") }
            hostText = String(hostText.dropFirst().dropLast())
            guard hostText.contains(":"), let block = CIDR(hostText) else {
                return failure("not an IPv6 address or block inside the brackets")
            }
            return .success(EgressRule(host: .block(block), ports: ports, text: text))
        }
        if hostText.contains(":") { return failure("an IPv6 literal must be in brackets: [2001:db8::1]:443") }
        if let first = hostText.first, first.isNumber, hostText.allSatisfy({ $0.isNumber || $0 == "." || $0 == "/" }) {
            guard let block = CIDR(hostText) else { return failure("not an IPv4 address or CIDR block") }
            return .success(EgressRule(host: .block(block), ports: ports, text: text))
        }
        let lowered = hostText.lowercased()
        if lowered.hasPrefix("*.") {
            let suffix = String(lowered.dropFirst(2))
            if let problem = HostName.problem(suffix) { return failure("after *.: \(problem)") }
            return .success(EgressRule(host: .below(suffix), ports: ports, text: text))
        }
        if lowered.contains("*") { return failure("a wildcard is only allowed as a leading *. (e.g. *.npmjs.org)") }
        if let problem = HostName.problem(lowered) { return failure(problem) }
        return .success(EgressRule(host: .name(HostName.normalized(lowered)), ports: ports, text: text))
    }

    private static func parsePorts(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { part -> Int? in
            guard !part.isEmpty, part.count <= 5, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(part).flatMap { (1...65535).contains($0) ? $0 : nil }
        }
        guard let first = parts[0], let last = parts.count == 2 ? parts[1] : first, first <= last else { return nil }
        return first...last
    }

    /// Whether the name (lower case, no trailing dot) matches this rule's host.
    func matches(name: String) -> Bool {
        switch host {
        case .name(let exact): name == exact
        case .below(let suffix): name.hasSuffix("." + suffix)
        case .block: false
        }
    }

    /// Whether every destination this rule allows is also allowed by `other`.
    public func isCovered(by other: EgressRule) -> Bool {
        guard other.ports.contains(ports.lowerBound), other.ports.contains(ports.upperBound) else { return false }
        switch (host, other.host) {
        case (.name(let name), _): return other.matches(name: name)
        case (.below(let suffix), .below(let wider)): return suffix == wider || suffix.hasSuffix("." + wider)
        case (.block(let block), .block(let wider)): return wider.contains(block)
        default: return false
        }
    }
}

/// Why an egress entry was refused.
public struct EgressRuleError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Host-name syntax (RFC 1123 labels).
public enum HostName {
    /// Lower case, without a trailing dot.
    public static func normalized(_ name: String) -> String {
        let lowered = name.lowercased()
        return lowered.hasSuffix(".") ? String(lowered.dropLast()) : lowered
    }

    /// What is wrong with `name` as a host name, or nil.
    public static func problem(_ name: String) -> String? {
        let name = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard !name.isEmpty, name.utf8.count <= 253 else { return "a host name is 1 to 253 characters" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count <= 63 else { return "each label of a host name is 1 to 63 characters" }
            guard bytes.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 }),
                bytes.first != 45, bytes.last != 45
            else { return "a host name has letters, digits and inner hyphens only (\(label))" }
        }
        return nil
    }
}
