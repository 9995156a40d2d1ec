import EgressPolicy
import Testing

@Suite struct EgressRuleParsingTests {
    @Test(arguments: [
        "api.anthropic.com:443", "*.npmjs.org:443", "github.com:443", "Example.COM:80", "10.0.0.0/8:8000-8100",
        "192.0.2.7:443", "[2001:db8::1]:443", "[2001:db8::/32]:1-65535",
    ])
    func acceptsGoodEntries(_ text: String) throws {
        let rule = try EgressRule.parse(text).get()
        #expect(rule.text == text)
    }

    @Test(arguments: [
        ("api.anthropic.com", "needs a port"), ("api.anthropic.com:0", "port"), ("api.anthropic.com:65536", "port"),
        ("api.anthropic.com:443-80", "port"), ("api.anthropic.com:https", "port"), ("*:443", "wildcard"),
        ("foo.*.com:443", "wildcard"), ("*foo.com:443", "wildcard"), ("2001:db8::1:443", "brackets"),
        ("[not-v6]:443", "IPv6"), ("10.0.0.0/33:443", "IPv4"), ("300.1.1.1:443", "IPv4"), ("bad_name.com:443", "letters"),
        ("-lead.com:443", "hyphens"), (":443", "1 to 253"), ("127.1:443", "IPv4"),
    ])
    func refusesBadEntriesWithAReason(_ text: String, _ expected: String) {
        guard case .failure(let error) = EgressRule.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(error.reason.contains(expected), "\(text): \(error.reason)")
    }

    @Test func portRangesAndWildcardsMatchAsDocumented() throws {
        let list = try EgressAllowList.parse(["*.npmjs.org:443", "example.com:8000-8100"]).get()
        #expect(list.admits(host: .name("registry.npmjs.org"), port: 443))
        #expect(list.admits(host: .name("a.b.npmjs.org"), port: 443))
        #expect(!list.admits(host: .name("npmjs.org"), port: 443), "a wildcard covers names below, not the name")
        #expect(!list.admits(host: .name("evilnpmjs.org"), port: 443))
        #expect(!list.admits(host: .name("registry.npmjs.org"), port: 80))
        #expect(list.admits(host: .name("example.com"), port: 8050))
        #expect(!list.admits(host: .name("example.com"), port: 8101))
        #expect(!list.admits(host: .address(IPAddress("93.184.216.34")!), port: 8050), "a name rule never admits an IP literal")
    }

    @Test func hostsAreCaseAndTrailingDotInsensitive() throws {
        let list = try EgressAllowList.parse(["API.Anthropic.com:443"]).get()
        #expect(list.admits(host: EgressHost("api.anthropic.com.")!, port: 443))
        #expect(list.admits(host: EgressHost("API.ANTHROPIC.COM")!, port: 443))
    }
}

@Suite struct EgressAddressTests {
    @Test func ipv4MappedIPv6IsTheIPv4Address() {
        #expect(IPAddress("::ffff:127.0.0.1") == IPAddress("127.0.0.1"))
        #expect(EgressHost("[::ffff:169.254.169.254]") == .address(IPAddress("169.254.169.254")!))
    }

    @Test func cidrContainment() {
        let block = CIDR("10.1.0.0/16")!
        #expect(block.contains(IPAddress("10.1.200.3")!))
        #expect(!block.contains(IPAddress("10.2.0.1")!))
        #expect(CIDR("10.0.0.0/8")!.contains(block))
        #expect(!block.contains(CIDR("10.0.0.0/8")!))
        #expect(CIDR("fd00::/8")!.contains(IPAddress("fd12::1")!))
        #expect(!CIDR("fd00::/8")!.contains(IPAddress("10.0.0.1")!))
        #expect(CIDR("10.1.2.3/16")!.network == IPAddress("10.1.0.0"))
    }

    @Test(arguments: [
        "127.0.0.1", "127.8.9.10", "10.0.0.5", "172.16.3.4", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "224.0.0.251", "255.255.255.255", "0.0.0.0", "::", "::1", "fd00::1", "fc00::5", "fe80::1",
        "ff02::1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
    ])
    func refusesSpecialAddressesUnlessListedAsABlock(_ text: String) throws {
        let address = try #require(IPAddress(text))
        let open = try EgressAllowList.parse(["allowed.test:443", "0.0.0.0/0:443", "[::/0]:443"]).get()
        #expect(open.refusal(of: address, port: 443, hostAddresses: []) != nil, "\(text) must be refused")
    }

    @Test func anExplicitBlockInsideASpecialRangeLiftsTheRefusal() throws {
        let list = try EgressAllowList.parse(["10.1.0.0/16:443", "[fd00::/8]:22", "127.0.0.1:8080"]).get()
        #expect(list.refusal(of: IPAddress("10.1.2.3")!, port: 443, hostAddresses: []) == nil)
        #expect(list.refusal(of: IPAddress("10.2.0.1")!, port: 443, hostAddresses: []) != nil)
        #expect(list.refusal(of: IPAddress("10.1.2.3")!, port: 80, hostAddresses: []) != nil, "the port must be listed too")
        #expect(list.refusal(of: IPAddress("fd12::1")!, port: 22, hostAddresses: []) == nil)
        #expect(list.refusal(of: IPAddress("127.0.0.1")!, port: 8080, hostAddresses: []) == nil)
        #expect(list.refusal(of: IPAddress("127.0.0.2")!, port: 8080, hostAddresses: []) == "loopback")
    }

    @Test func theHostsOwnAddressesAreRefusedUnlessListedExactly() throws {
        let own: Set<IPAddress> = [IPAddress("203.0.113.9")!]
        let wide = try EgressAllowList.parse(["203.0.113.0/24:443"]).get()
        #expect(wide.refusal(of: IPAddress("203.0.113.9")!, port: 443, hostAddresses: own) == "the host's own address")
        #expect(wide.refusal(of: IPAddress("203.0.113.10")!, port: 443, hostAddresses: own) == nil)
        let exact = try EgressAllowList.parse(["203.0.113.9:443"]).get()
        #expect(exact.refusal(of: IPAddress("203.0.113.9")!, port: 443, hostAddresses: own) == nil)
    }

    @Test func publicAddressesPass() throws {
        let list = try EgressAllowList.parse(["example.com:443"]).get()
        #expect(list.refusal(of: IPAddress("93.184.216.34")!, port: 443, hostAddresses: []) == nil)
        #expect(list.refusal(of: IPAddress("2606:2800:220:1::1")!, port: 443, hostAddresses: []) == nil)
    }
}

@Suite struct EgressNarrowingTests {
    let profile = try! EgressAllowList.parse(["*.npmjs.org:443", "github.com:443", "10.0.0.0/8:1-1024"]).get()

    @Test(arguments: ["registry.npmjs.org:443", "*.npmjs.org:443", "*.x.npmjs.org:443", "github.com:443", "10.1.0.0/16:80-90"])
    func aRequestMayNarrow(_ entry: String) throws {
        let narrowed = try profile.narrowed(to: [entry]).get()
        #expect(narrowed.entries == [entry])
    }

    @Test(arguments: ["npmjs.org:443", "*.org:443", "github.com:80", "gitlab.com:443", "10.0.0.0/7:80", "10.0.0.0/8:1-2000"])
    func aRequestMayNotWiden(_ entry: String) {
        guard case .failure(let error) = profile.narrowed(to: ["github.com:443", entry]) else {
            Issue.record("\(entry) widened the list")
            return
        }
        #expect(error.problems.map(\.index) == [1])
        #expect(error.problems[0].reason.contains("only narrow"))
    }

    @Test func anEmptyRequestListMeansNoEgress() throws {
        #expect(try profile.narrowed(to: []).get().isEmpty)
    }
}
