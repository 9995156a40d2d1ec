@testable import SandcastleAPI
import Testing

/// Which connections the listener hands to the terminal's own route: only a terminal's upgrade,
/// decided as soon as the head says so; everything else goes to Hummingbird untouched.
@Suite struct FirstRequestHeadTests {
    static func verdict(_ text: String) -> Bool? {
        Array(text.utf8).withUnsafeBytes { FirstRequestHead.isTerminalUpgrade($0) }
    }

    @Test func aTerminalUpgradeIsTheTerminalRoutes() {
        let upgrade = "GET /v1/sessions/s-1/tty?since=42 HTTP/1.1\r\nHost: x\r\nconnection: Upgrade\r\nUPGRADE: websocket\r\n\r\n"
        #expect(Self.verdict(upgrade) == true)
        // Empty path segments are skipped, as the router skips them.
        #expect(Self.verdict("GET //v1/sessions/s-1/tty/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n") == true)
        // Known as soon as the header is seen, before the head is complete.
        #expect(Self.verdict("GET /v1/sessions/s-1/tty HTTP/1.1\r\nUpgrade: websocket\r\nHost") == true)
    }

    @Test func everythingElseIsHummingbirds() {
        for head in [
            "GET /v1/sessions/s-1/tty HTTP/1.1\r\nHost: x\r\n\r\n",  // a plain GET: the precise error
            "GET /v1/sessions/s-1/tty HTTP/1.1\nHost: x\n\n",  // the same, with bare line feeds
            "POST /v1/sessions/s-1/tty HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /v1/sessions/s-1/exec HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /v1/sessions/tty HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /v1/sessions/a/b/tty HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /v1/sessions/s-1/tty HTTP/1.1\r\nX-Upgrade: websocket\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n",  // decided on the request line alone
        ] {
            #expect(Self.verdict(head) == false, "\(head)")
        }
    }

    @Test func anIncompleteHeadWaitsUpToTheLimit() {
        #expect(Self.verdict("GET /v1/sessions/s-1/t") == nil)
        #expect(Self.verdict("GET /v1/sessions/s-1/tty HTTP/1.1\r\nHost: x\r\n") == nil)
        let endless = "GET /v1/sessions/s-1/tty HTTP/1.1\r\n" + String(repeating: "X-Filler: 0123456789\r\n", count: 1000)
        #expect(Self.verdict(endless) == false)
        #expect(Self.verdict(String(repeating: "G", count: FirstRequestHead.limit)) == false)
    }
}
