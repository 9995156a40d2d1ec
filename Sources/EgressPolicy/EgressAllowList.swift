/// A session's egress allow list, and the decisions the proxy takes with it. Pure: the proxy
/// resolves names and knows the host's addresses; this only judges.
///
/// A request passes two checks. First its destination as written (a name, or an IP literal) must
/// match a rule with its port. Then every address it resolves to is checked against the refused
/// ranges (``SpecialRanges``) and the host's own addresses: such an address is used only when a
/// rule lists it explicitly as a block inside that range (`10.1.0.0/16:443` allows 10.1.2.3, but
/// `0.0.0.0/0:443` never allows 127.0.0.1). The proxy connects only to an address that passed.
public struct EgressAllowList: Sendable, Hashable, CustomStringConvertible {
    public let rules: [EgressRule]

    public init(_ rules: [EgressRule] = []) {
        self.rules = rules
    }

    /// No rules: no egress at all (the default).
    public var isEmpty: Bool { rules.isEmpty }

    /// The entries as written.
    public var entries: [String] { rules.map(\.text) }

    public var description: String { entries.joined(separator: ", ") }

    /// Parses entries; the error names the index and the reason of each bad one.
    public static func parse(_ entries: [String]) -> Result<EgressAllowList, EgressListError> {
        var rules: [EgressRule] = []
        var problems: [EgressListError.Problem] = []
        for (index, entry) in entries.enumerated() {
            switch EgressRule.parse(entry) {
            case .success(let rule): if !rules.contains(rule) { rules.append(rule) }
            case .failure(let error): problems.append(.init(index: index, reason: error.reason))
            }
        }
        return problems.isEmpty ? .success(EgressAllowList(rules)) : .failure(EgressListError(problems: problems))
    }

    /// A narrower list: the entries of `requested` each covered by one of these rules; an entry
    /// that is not gets an error with its index.
    public func narrowed(to requested: [String]) -> Result<EgressAllowList, EgressListError> {
        switch Self.parse(requested) {
        case .failure(let error):
            return .failure(error)
        case .success(let list):
            let problems = list.rules.compactMap { rule -> EgressListError.Problem? in
                guard !rules.contains(where: { rule.isCovered(by: $0) }) else { return nil }
                let allowed = isEmpty ? "none" : entries.joined(separator: ", ")
                return .init(
                    index: requested.firstIndex(of: rule.text) ?? 0,
                    reason: "wider than the profile allows (it allows \(allowed)); a request may only narrow it")
            }
            return problems.isEmpty ? .success(list) : .failure(EgressListError(problems: problems))
        }
    }

    /// The first check: may `host` (a name or an IP literal, as the client wrote it) be asked for
    /// on `port`? A refusal says why in a line the user sees.
    public func admits(host: EgressHost, port: Int) -> Bool {
        switch host {
        case .name(let name):
            rules.contains { $0.ports.contains(port) && $0.matches(name: name) }
        case .address(let address):
            rules.contains {
                guard $0.ports.contains(port), case .block(let block) = $0.host else { return false }
                return block.contains(address)
            }
        }
    }

    /// The second check, for each address the destination resolved to: nil when the proxy may
    /// connect to it, else the reason it may not (`loopback`, `the host's own address`, ...).
    public func refusal(of address: IPAddress, port: Int, hostAddresses: Set<IPAddress>) -> String? {
        let special: (CIDR, String)? =
            SpecialRanges.range(of: address)
            ?? (hostAddresses.contains(address)
                ? (CIDR(address, prefixLength: address.isIPv4 ? 32 : 128)!, "the host's own address") : nil)
        guard let (range, reason) = special else { return nil }
        let listed = rules.contains {
            guard $0.ports.contains(port), case .block(let block) = $0.host else { return false }
            return range.contains(block) && block.contains(address)
        }
        return listed ? nil : reason
    }
}

/// The bad entries of a list, each with its index and reason.
public struct EgressListError: Error, Sendable, Equatable {
    public struct Problem: Sendable, Equatable {
        public var index: Int
        public var reason: String
    }

    public var problems: [Problem]
}

/// A destination as a client wrote it: a name or an IP literal.
public enum EgressHost: Sendable, Hashable, CustomStringConvertible {
    case name(String)
    case address(IPAddress)

    /// From the host part of `CONNECT host:port` or an absolute URL (IPv6 in brackets); nil when
    /// it is neither a valid name nor an address.
    public init?(_ text: String) {
        if text.hasPrefix("["), text.hasSuffix("]") {
            guard let address = IPAddress(String(text.dropFirst().dropLast())) else { return nil }
            self = .address(address)
        } else if let address = IPAddress(text), !text.contains(":") {
            self = .address(address)
        } else if HostName.problem(text) == nil {
            self = .name(HostName.normalized(text))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .name(let name): name
        case .address(let address): address.isIPv4 ? address.description : "[\(address)]"
        }
    }
}

/// Address ranges never reached through egress unless a rule lists them explicitly.
public enum SpecialRanges {
    public static let all: [(CIDR, String)] = [
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("169.254.0.0/16", "link-local (cloud metadata lives here)"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("198.18.0.0/15", "a benchmarking network"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (and broadcast)"),
        ("::/128", "an unspecified address"),
        ("::1/128", "loopback"),
        ("fc00::/7", "an IPv6 unique local address"),
        ("fe80::/10", "IPv6 link-local"),
        ("ff00::/8", "multicast"),
        ("64:ff9b::/96", "NAT64 (may reach any IPv4 address)"),
        ("64:ff9b:1::/48", "NAT64 (may reach any IPv4 address)"),
        ("2002::/16", "6to4 (may reach any IPv4 address)"),
        ("::/96", "IPv4-compatible IPv6 (deprecated)"),
    ].map { (CIDR($0.0)!, $0.1) }

    /// The refused range `address` is in, with its reason, or nil.
    public static func range(of address: IPAddress) -> (CIDR, String)? {
        all.first { $0.0.contains(address) }
    }
}
