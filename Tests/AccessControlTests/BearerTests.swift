import Testing

@testable import AccessControl

@Suite struct BearerTests {
    @Test(arguments: [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("BeArEr abc", "abc"),
        ("Bearer    abc   ", "abc"),
        ("Bearer\tabc\t", "abc"),
        ("Bearer sc_0123.-_~+/=", "sc_0123.-_~+/="),
        ("Bearer " + String(repeating: "x", count: 512), String(repeating: "x", count: 512)),
    ])
    func acceptsBearerCredentials(header: String, credential: String) {
        #expect(parseBearer(authorizationHeader: header) == credential)
    }

    @Test(arguments: [
        "",
        "Bearer",
        "Bearer ",
        "Bearer    \t ",
        "Bearerabc",
        "Bearer-abc",
        " Bearer abc",
        "Basic abc",
        "Token abc",
        "Bearer a b",
        "Bearer abc\r\n",
        "Bearer abc\u{0}",
        "Bearer abc\u{7F}",
        "Bearer \u{1}abc",
        "Bearer café",
        "Bearer \u{00A0}abc",
        "Bearer " + String(repeating: "x", count: 513),
        "Bearer " + String(repeating: "x", count: 100_000),
    ])
    func refusesEverythingElse(header: String) {
        #expect(parseBearer(authorizationHeader: header) == nil)
    }

    @Test(arguments: [
        ("sandcastle.tty.v1, bearer.abc.def", "abc.def"),
        ("bearer.abc,sandcastle.tty.v1", "abc"),
        ("  bearer.abc  ,  sandcastle.tty.v1", "abc"),
    ])
    func readsTheSubprotocolToken(header: String, token: String) {
        #expect(parseBearerSubprotocol(offered: offeredSubprotocols(secWebSocketProtocol: header)) == token)
    }

    @Test(arguments: [
        "",
        "sandcastle.tty.v1",
        "sandcastle.tty.v1, bearer.",
        "bearer.a, bearer.b",
        "Bearer.abc",
        "bearer.é",
        "bearer." + String(repeating: "x", count: 513),
    ])
    func refusesOtherSubprotocolHeaders(header: String) {
        #expect(parseBearerSubprotocol(offered: offeredSubprotocols(secWebSocketProtocol: header)) == nil)
    }

    @Test func listsTheOfferedSubprotocolsTrimmedInOrder() {
        #expect(offeredSubprotocols(secWebSocketProtocol: "sandcastle.tty.v1") == ["sandcastle.tty.v1"])
        #expect(
            offeredSubprotocols(secWebSocketProtocol: " \tbearer.abc ,,sandcastle.tty.v1\t, , x y ")
                == ["bearer.abc", "sandcastle.tty.v1", "", "x y"])
        #expect(offeredSubprotocols(secWebSocketProtocol: "") == [])
        #expect(offeredSubprotocols(secWebSocketProtocol: "é, ü") == ["é", "ü"])
    }
}
