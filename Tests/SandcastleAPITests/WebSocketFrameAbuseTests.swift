import Foundation
import HummingbirdWSClient
import NIOCore
import SandcastleTestSupport
import Testing

/// Frames no well-behaved client sends, written by hand on a raw socket against a live server: each
/// gets the close code RFC 6455 and the README's terminal protocol call for, and the server goes on serving
/// the other viewers of the same terminal.
@Suite("WebSocket frame abuse", .timeLimit(.minutes(3)), .requiresEngine)
struct WebSocketFrameAbuseTests {
    /// One abusive client: what it sends after `hello`, and the close code it must get.
    struct Abuse: Sendable, CustomStringConvertible {
        var description: String
        var expectedClose: Int
        var send: @Sendable (RawWebSocket) -> Void
    }

    /// The fixture's limit (APISettings.maxFrameBytes).
    static let maxFrame = 64 << 10

    static let abuses: [Abuse] = [
        Abuse(description: "a frame over the size limit", expectedClose: 1009) { socket in
            // Only the head and a little of the payload: the length alone must get it refused.
            socket.send(opcode: 0x2, Array(repeating: 0x61, count: 16), declaredLength: maxFrame + 1)
        },
        Abuse(description: "a fragmented message over the size limit", expectedClose: 1009) { socket in
            let part = Array(repeating: UInt8(0x61), count: maxFrame / 2 + 1024)
            socket.send(opcode: 0x2, part, fin: false)
            socket.send(opcode: 0x0, part, fin: true)
        },
        Abuse(description: "invalid UTF-8 in a text frame", expectedClose: 1007) { socket in
            socket.send(opcode: 0x1, [0x7B, 0x22, 0xC3, 0x28, 0xFF, 0x22, 0x7D])
        },
        Abuse(description: "an unmasked frame", expectedClose: 1002) { socket in
            socket.send(opcode: 0x2, Array("echo unmasked\n".utf8), masked: false)
        },
        Abuse(description: "a reserved opcode", expectedClose: 1002) { socket in
            socket.send(opcode: 0x3, Array("what is this".utf8))
        },
        Abuse(description: "a continuation with nothing to continue", expectedClose: 1002) { socket in
            socket.send(opcode: 0x0, Array("tail".utf8))
        },
        Abuse(description: "a reserved bit without an extension", expectedClose: 1002) { socket in
            socket.send(opcode: 0x2, Array("x".utf8), rsv: 0x40)
        },
        Abuse(description: "a fragmented ping", expectedClose: 1002) { socket in
            socket.send(opcode: 0x9, Array("ping".utf8), fin: false)
        },
        Abuse(description: "a ping longer than 125 bytes", expectedClose: 1002) { socket in
            socket.send(opcode: 0x9, Array(repeating: 0x70, count: 200))
        },
        Abuse(description: "a close with a code no endpoint may send", expectedClose: 1002) { socket in
            socket.send(opcode: 0x8, [0x03, 0xED])  // 1005: "no status received", never on the wire
        },
        Abuse(description: "a close whose reason is not UTF-8", expectedClose: 1002) { socket in
            socket.send(opcode: 0x8, [0x03, 0xE8, 0xC3, 0x28])
        },
        Abuse(description: "a new message inside a fragmented one", expectedClose: 1002) { socket in
            socket.send(opcode: 0x2, Array("par".utf8), fin: false)
            socket.send(opcode: 0x2, Array("tial".utf8))
        },
    ]

    /// Connects a raw client and reads up to its `hello`.
    static func open(port: Int, session: String, token: String) throws -> RawWebSocket {
        let socket = try RawWebSocket(port: port, path: "/v1/sessions/\(session)/tty", token: token)
        let hello = try socket.readUntil { $0.opcode == 0x1 }
        guard let hello, hello.text.contains(#""type":"hello""#) else {
            throw FixtureError(description: "no hello: \(hello?.text ?? "connection ended")")
        }
        return socket
    }

    @Test func abusiveFramesAreClosedWithTheRightCodeWhileOthersAreServed() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            _ = try await fixture.manager.manager.create(id: "abuse-1", request: fixture.manager.request("abuse", command: ["sh"]), owner: "t").session
            let token = try TerminalWebSocketTests.token(fixture, session: "abuse-1")
            let bystander = TerminalWebSocketTests.Transcript()
            let abusesDone = TerminalWebSocketTests.Transcript()
            async let watching: TerminalWebSocketTests.Transcript = TerminalWebSocketTests.connect(
                port: port, session: "abuse-1", token: token, transcript: bystander
            ) { outbound in
                try await bystander.waitFor("hello") { !$0.controls.isEmpty }
                try await abusesDone.waitFor("the abusive clients", timeout: .seconds(120)) { !$0.controls.isEmpty }
                try await outbound.write(.binary(ByteBuffer(string: "echo STILL-$((40+2))\n")))
                try await bystander.waitFor("the bystander's echo") { $0.output.contains("STILL-42") }
                try await outbound.close(.normalClosure, reason: "done")
            }
            try await bystander.waitFor("the bystander's hello") { !$0.controls.isEmpty }

            for abuse in Self.abuses {
                let (close, ended) = try await offPool { () throws -> (Int?, Bool) in
                    let socket = try Self.open(port: port, session: "abuse-1", token: token)
                    defer { socket.close() }
                    abuse.send(socket)
                    let close = try socket.readUntil { $0.opcode == 0x8 }
                    // Answer the close as a client should; the server then ends the connection.
                    socket.send(opcode: 0x8, close?.payload ?? [])
                    return (close?.closeCode, socket.waitForEnd(timeout: 10))
                }
                #expect(close == abuse.expectedClose, "\(abuse): closed with \(close.map(String.init) ?? "no close frame")")
                #expect(ended, "\(abuse): the server kept the connection open")
            }
            abusesDone.state.withLock { $0.controlTexts.append("{}") }
            let seen = try await watching
            #expect(seen.output.contains("STILL-42"), "the bystander was not served after the abuse")
            #expect(seen.closeCode == 1000)
        }
    }

    @Test func framesOfTheWrongKindAreAnsweredAndTheConnectionGoesOn() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            _ = try await fixture.manager.manager.create(id: "abuse-2", request: fixture.manager.request("abuse2", command: ["sh"]), owner: "t").session
            let token = try TerminalWebSocketTests.token(fixture, session: "abuse-2")
            let (errors, ponged, echoed, close) = try await offPool { () throws -> ([String], Bool, Bool, Int?) in
                let socket = try Self.open(port: port, session: "abuse-2", token: token)
                defer { socket.close() }
                var errors: [String] = []
                // Terminal input sent as text, a server-only message, a JSON array, a resize
                // without numbers, an unknown signal: each is answered with an error message.
                for text in [
                    "ls -l\n", #"{"type":"hello","session":"x"}"#, "[1,2,3]", #"{"type":"resize","cols":"wide"}"#,
                    #"{"type":"signal","name":"KILLALL"}"#,
                ] {
                    socket.sendText(text)
                    // (The reset before the new viewer's repaint is not an answer.)
                    if let answer = try socket.readUntil(timeout: 10, { $0.opcode == 0x1 && !$0.text.contains(#""type":"reset""#) }) {
                        errors.append(answer.text)
                    }
                }
                // A ping is answered with its payload.
                socket.send(opcode: 0x9, Array("are you there".utf8))
                let pong = try socket.readUntil(timeout: 10) { $0.opcode == 0xA }
                // Still a working terminal.
                socket.sendText(#"{"type":"resize","cols":100,"rows":30}"#)
                socket.sendBinary("echo AFTER-$((40+2))\n")
                var output = ""
                let echoed = try socket.readUntil(timeout: 15) { frame in
                    if frame.opcode == 0x2 { output += frame.text }
                    return output.contains("AFTER-42")
                } != nil
                socket.send(opcode: 0x8, [0x03, 0xE8])
                let close = try socket.readUntil(timeout: 10) { $0.opcode == 0x8 }
                return (errors, pong?.text == "are you there", echoed, close?.closeCode)
            }
            #expect(errors.count == 5)
            for error in errors {
                #expect(error.contains(#""type":"error""#), "\(error)")
                #expect(error.contains(#""message":"#), "\(error)")
            }
            #expect(ponged, "the ping was not answered with its payload")
            #expect(echoed, "the terminal stopped working after the wrong frames")
            #expect(close == 1000)
        }
    }
}
