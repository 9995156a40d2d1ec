import HTTPTypes
import Testing

@testable import SandcastleAPI

/// What the WebSocket routes and the middlewares read off a request, by bytes and in one pass:
/// the same answers as the standard library's `split` and `HTTPFields`' subscript.
@Suite struct RequestReadingTests {
    @Test(arguments: [
        ("/v1/sessions/s-1/tty", "s-1"),
        ("/v1/sessions/s-1/exec", "s-1"),
        ("/v1/sessions/s-1/tty/", "s-1"),
        ("/v1/sessions//s-1//tty", "s-1"),
        ("s-1/tty", "s-1"),
        ("/tty", ""),
        ("/", ""),
        ("", ""),
        ("/v1/sessions/é/tty", "é"),
    ])
    func sessionIDIsTheSecondToLastSegment(path: String, id: String) {
        #expect(sessionID(inSubresourcePath: path) == id)
        let split = path.split(separator: "/").dropLast().last.map(String.init) ?? ""
        #expect(split == id)
    }

    @Test func headerValuesAreTheSubscriptsOwn() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: .origin, value: "https://a.example"))
        fields.append(HTTPField(name: .secWebSocketProtocol, value: "sandcastle.tty.v1"))
        fields.append(HTTPField(name: .secWebSocketProtocol, value: "bearer.abc"))
        fields.append(HTTPField(name: HTTPField.Name("AUTHORIZATION")!, value: "Bearer k"))
        for name in [HTTPField.Name.origin, .secWebSocketProtocol, .authorization, .contentLength] {
            #expect(fields.value(name) == fields[name], "\(name)")
        }
        #expect(fields.value(.secWebSocketProtocol) == "sandcastle.tty.v1, bearer.abc")
        #expect(fields.value(.contentLength) == nil)
    }
}
