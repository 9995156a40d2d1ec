import AccessControl
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import SandcastleTestSupport
import Synchronization
import Testing

/// The terminal WebSocket, end to end: a live server, the real engine, a real WebSocket client.
@Suite("The terminal WebSocket", .timeLimit(.minutes(3)), .requiresEngine)
struct TerminalWebSocketTests {
    /// What a client saw: text control messages, terminal bytes, and the close code.
    final class Transcript: Sendable {
        let state = Mutex<(controlTexts: [String], output: String, closeCode: Int?)>(([], "", nil))

        var output: String { state.withLock { $0.output } }
        /// The text frames, parsed.
        var controls: [[String: Any]] {
            state.withLock { $0.controlTexts }.map {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) ?? [:]
            }
        }
        var closeCode: Int? { state.withLock { $0.closeCode } }

        func waitFor(_ what: String, timeout: Duration = .seconds(30), _ condition: @Sendable (Transcript) -> Bool) async throws {
            try await eventually(what, timeout: timeout) { condition(self) }
        }
    }

    static func token(_ fixture: APIFixture, session: String, role: AttachRole = .readWrite, ttl: Duration = .seconds(60)) throws -> String {
        try fixture.dependencies.tokens.current.mint(session: session, role: role, ttl: ttl).token
    }

    /// Connects a client, records everything it receives, and runs `body` with its writer.
    @discardableResult
    static func connect(
        port: Int, session: String, token: String?, query: String = "",
        transcript: Transcript = Transcript(), readDelay: Duration = .zero,
        _ body: @escaping @Sendable (WebSocketOutboundWriter) async throws -> Void = { _ in }
    ) async throws -> Transcript {
        // The client library sends an Origin of its own (ws://127.0.0.1), which the fixture allows.
        let headers: HTTPFields = [.secWebSocketProtocol: "sandcastle.tty.v1" + (token.map { ", bearer.\($0)" } ?? "")]
        let close = try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/v1/sessions/\(session)/tty\(query)",
            configuration: .init(maxFrameSize: 1 << 24, additionalHeaders: headers),
            logger: Logger(label: "test.ws")
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    if readDelay > .zero { try await Task.sleep(for: readDelay) }
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        switch message {
                        case .text(let text):
                            transcript.state.withLock { $0.controlTexts.append(text) }
                        case .binary(let bytes):
                            transcript.state.withLock { $0.output += String(buffer: bytes) }
                        }
                    }
                }
                group.addTask { try await body(outbound) }
                try await group.waitForAll()
            }
        }
        transcript.state.withLock { $0.closeCode = close.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) } }
        return transcript
    }

    @Test func twoViewersOneShellAndTheExitFrame() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            _ = try await fixture.manager.manager.create(id: "tty-1", request: fixture.manager.request("tty", command: ["sh"]), owner: "t").session
            let rw = try Self.token(fixture, session: "tty-1")
            let ro = try Self.token(fixture, session: "tty-1", role: .readOnly)
            let reader = Transcript()
            let writer = Transcript()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Self.connect(port: port, session: "tty-1", token: ro, query: "?replay=bytes", transcript: reader) { outbound in
                        try await reader.waitFor("hello") { !$0.controls.isEmpty }
                        // A read-only viewer's keystrokes go nowhere.
                        try await outbound.write(.binary(ByteBuffer(string: "echo RO-$((40+3))\n")))
                    }
                }
                group.addTask {
                    try await Self.connect(port: port, session: "tty-1", token: rw, query: "?replay=bytes", transcript: writer) { outbound in
                        try await writer.waitFor("hello") { !$0.controls.isEmpty }
                        try await reader.waitFor("the reader's hello") { !$0.controls.isEmpty }
                        // Typed again until it runs: keys that reach busybox's line editor before
                        // its first prompt may be taken for the answer to its cursor query.
                        for _ in 0..<15 where !writer.output.contains("RW-42") {
                            try await outbound.write(.binary(ByteBuffer(string: "echo RW-$((40+2))\n")))
                            try? await writer.waitFor("the echo", timeout: .seconds(2)) { $0.output.contains("RW-42") }
                        }
                        try await writer.waitFor("the echo") { $0.output.contains("RW-42") }
                        try await outbound.write(.text(#"{"type":"resize","cols":123,"rows":37}"#))
                        try await outbound.write(.binary(ByteBuffer(string: "stty size\n")))
                        try await writer.waitFor("stty size") { $0.output.contains("37 123") }
                        try await outbound.write(.text(#"{"type":"resize","cols":100000,"rows":-5}"#))
                        try await outbound.write(.text(#"{"type":"dance"}"#))
                        try await outbound.write(.binary(ByteBuffer(string: "exit 3\n")))
                        try await writer.waitFor("the exit frame") { $0.controls.contains { $0["type"] as? String == "exit" } }
                    }
                }
                try await group.waitForAll()
            }
            for transcript in [reader, writer] {
                let hello = transcript.controls.first
                #expect(hello?["type"] as? String == "hello")
                #expect(hello?["session"] as? String == "tty-1")
                #expect(transcript.output.contains("RW-42"))
                #expect(!transcript.output.contains("RO-43"))
                let exit = transcript.controls.last
                #expect(exit?["type"] as? String == "exit")
                #expect(exit?["code"] as? Int == 3)
                #expect(exit?["reason"] as? String == "exited")
                #expect(transcript.closeCode == 1000)
            }
            #expect(reader.controls.first?["role"] as? String == "ro")
            #expect(writer.controls.first?["role"] as? String == "rw")
            #expect(writer.controls.contains { $0["type"] as? String == "error" }, "an unknown control message is answered")
            // Both viewers saw the same bytes.
            #expect(reader.output == writer.output)
        }
    }

    @Test func reconnectWithSinceGetsExactlyTheMissedBytes() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            // The counter waits for a line of input, so that what the first viewer sees is a
            // known stretch of it; the relay's offsets are what this test is about.
            let counter = ["sh", "-c", "read go; i=0; while [ $i -lt 400 ]; do echo n$i; i=$((i+1)); sleep 0.01; done; echo END; sleep 30"]
            _ = try await fixture.manager.manager.create(id: "tty-2", request: fixture.manager.request("tty2", command: counter), owner: "t").session
            let token = try Self.token(fixture, session: "tty-2")
            let relay = fixture.relay
            let first = Transcript()
            // The bytes as written, so that the offset to resume from is `hello`'s plus what was seen.
            try await Self.connect(port: port, session: "tty-2", token: token, query: "?replay=bytes", transcript: first) { outbound in
                try await eventually("attached") { relay.existingTerminal(session: "tty-2")?.isAttached == true }
                try await outbound.write(.binary(ByteBuffer(string: "go\n")))
                try await first.waitFor("some lines") { $0.output.contains("n20\r\n") }
                try await outbound.close(.normalClosure, reason: "going away for a while")
            }
            let start = try #require(first.controls.first?["offset"] as? Int)
            let seen = first.output.utf8.count
            // The counter goes on while nobody watches.
            let terminal = try #require(relay.existingTerminal(session: "tty-2"))
            try await eventually("missed output") { terminal.endOffset > UInt64(start + seen + 200) }
            let second = Transcript()
            try await Self.connect(port: port, session: "tty-2", token: token, query: "?since=\(start + seen)", transcript: second) { outbound in
                try await second.waitFor("the last line", timeout: .seconds(90)) { $0.output.contains("END") }
                try await outbound.close(.normalClosure, reason: "done")
            }
            #expect(second.controls.first?["type"] as? String == "hello")
            #expect(second.controls.first?["offset"] as? Int == start + seen)
            #expect(!second.controls.contains { $0["type"] as? String == "reset" })
            let lines = (first.output + second.output).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            let numbers = lines.compactMap { $0.hasPrefix("n") ? Int($0.dropFirst()) : nil }
            let firstWrong = zip(numbers, 0...).first { $0 != $1 }
            #expect(
                numbers == Array(0..<400),
                "gap or repeat across the reconnect: \(numbers.count) lines, first wrong \(String(describing: firstWrong)), resumed at \(start + seen)")
        }
    }

    @Test func theFirstViewerSeesTheSessionFromItsFirstByteExactlyOnce() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            // Prints from its first instant, while nobody watches, and goes on while the first
            // viewer connects.
            let counter = ["sh", "-c", "i=0; while [ $i -lt 600 ]; do echo n$i; i=$((i+1)); sleep 0.002; done; echo END; sleep 30"]
            // Not tty-5: refusedBeforeTheUpgrade, running beside it on the same engine, makes one.
            _ = try await fixture.manager.manager.create(id: "tty-6", request: fixture.manager.request("tty6", command: counter), owner: "t").session
            // Attached before the container started: the relay holds the terminal with no viewer,
            // so no viewer ever depends on the engine replaying its log beside the live stream.
            let terminal = try #require(fixture.relay.existingTerminal(session: "tty-6"), "no terminal before the first viewer")
            try await eventually("attached") { terminal.isAttached }
            try await eventually("some output before any viewer") { terminal.endOffset > 200 }
            let token = try Self.token(fixture, session: "tty-6")
            let viewer = Transcript()
            try await Self.connect(port: port, session: "tty-6", token: token, query: "?since=0", transcript: viewer) { outbound in
                try await viewer.waitFor("the last line", timeout: .seconds(60)) { $0.output.contains("END") }
                try await outbound.close(.normalClosure, reason: "done")
            }
            #expect(viewer.controls.first?["offset"] as? Int == 0)
            let lines = viewer.output.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            let numbers = lines.compactMap { $0.hasPrefix("n") ? Int($0.dropFirst()) : nil }
            let firstWrong = zip(numbers, 0...).first { $0 != $1 }
            #expect(numbers == Array(0..<600), "gap or repeat: \(numbers.count) lines, first wrong \(String(describing: firstWrong))")
        }
    }

    /// A viewer that stops reading during 50 MiB of output is not closed: when it reads again it
    /// gets a reset and a repaint, and ends up with the screen of a viewer that kept up.
    @Test func aViewerThatStopsReadingIsRepaintedNotClosed() async throws {
        try await LiveServerTests.withLiveServer(viewerQueueBytes: 512 << 10) { fixture, port in
            let burst = [
                "sh", "-c",
                // 50 MiB in 64 KiB pieces, paced (at most ~6 MB/s) so as not to starve the tests
                // running beside this one, yet far more than a viewer that reads nothing can hold.
                "sleep 2; line=$(printf '%0150d' 7); i=0; while [ $i -lt 800 ]; do yes \"$line\" | head -c 65536; "
                    + "i=$((i+1)); sleep 0.01; done; clear; "
                    + "printf '\\033[1;32mdone\\033[0m after \\033[7m50 MiB\\033[0m\\n'; echo END; sleep 60",
            ]
            _ = try await fixture.manager.manager.create(id: "tty-3", request: fixture.manager.request("tty3", command: burst), owner: "t").session
            let token = try Self.token(fixture, session: "tty-3", role: .readOnly)
            let fastTranscript = Transcript()
            let slowTranscript = Transcript()
            async let slow = Self.connect(port: port, session: "tty-3", token: token, transcript: slowTranscript, readDelay: .seconds(8)) { outbound in
                try await slowTranscript.waitFor("the end", timeout: .seconds(90)) { $0.output.contains("END") }
                try await outbound.close(.normalClosure, reason: "done")
            }
            async let fast = Self.connect(port: port, session: "tty-3", token: token, transcript: fastTranscript) { outbound in
                try await fastTranscript.waitFor("the whole burst", timeout: .seconds(90)) { $0.output.contains("END") }
                try await outbound.close(.normalClosure, reason: "done")
            }
            let slowResult = try await slow
            _ = try await fast
            #expect(slowResult.closeCode == 1000, "the slow viewer was closed: \(String(describing: slowResult.closeCode))")
            // It did not get the 50 MiB, and it got a second reset (the first came with its hello).
            #expect(slowResult.output.utf8.count < 50 << 20)
            #expect(slowResult.controls.filter { $0["type"] as? String == "reset" }.count >= 2)
            // Both screens as pyte draws them: the fast one from its last clear on (clear erased
            // all before; `clear` writes ESC [H ESC [2J or ESC [H ESC [J, by terminfo), the slow
            // one from the last repaint, whose terminal reset (ESC c) makes a client that ignores
            // the reset message right too. A mark not found would hand pyte a whole transcript
            // (50 MiB: minutes).
            func tail(_ text: String, from marks: [String]) -> [UInt8] {
                let start = marks.compactMap { text.range(of: $0, options: .backwards)?.lowerBound }.max() ?? text.startIndex
                return Array(text[start...].utf8)
            }
            let marks = ["\u{1b}c", "\u{1b}[H\u{1b}[2J", "\u{1b}[H\u{1b}[J"]
            let expected = try await PyteScreen.render(tail(fastTranscript.output, from: marks), columns: 80, rows: 24)
            let rebuilt = try await PyteScreen.render(tail(slowResult.output, from: marks), columns: 80, rows: 24)
            #expect(rebuilt == expected, "\(rebuilt.differences(from: expected))")
            #expect(expected.lines.first == "done after 50 MiB")
        }
    }

    @Test func refusedBeforeTheUpgrade() async throws {
        try await LiveServerTests.withLiveServer { fixture, port in
            _ = try await fixture.manager.manager.create(id: "tty-4", request: fixture.manager.request("tty4"), owner: "t").session
            _ = try await fixture.manager.manager.create(id: "tty-5", request: fixture.manager.request("tty5"), owner: "t").session
            let good = try Self.token(fixture, session: "tty-4")
            let readOnly = try Self.token(fixture, session: "tty-4", role: .readOnly)
            let otherSession = try Self.token(fixture, session: "tty-5")
            let shortLived = try Self.token(fixture, session: "tty-4", ttl: .seconds(1))
            try await Task.sleep(for: .milliseconds(2100))
            func status(_ headers: [String], query: String = "") async throws -> String {
                try await LiveServerTests.curl(
                    ["-o", "/dev/null", "-w", "%{http_code}", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                     "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
                        + headers.flatMap { ["-H", $0] } + ["http://127.0.0.1:\(port)/v1/sessions/tty-4/tty\(query)"],
                    seconds: 5)
            }
            // Hummingbird answers every refused upgrade with a bare 400 before switching protocols;
            // a plain GET of the route says precisely why.
            let refusals: [([String], String, String)] = [
                (["Sec-WebSocket-Protocol: sandcastle.tty.v1"], "", "401"),
                (["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(shortLived)"], "", "401"),
                (["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(otherSession)"], "", "401"),
                (["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(readOnly)"], "?role=rw", "401"),
                (["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(good)x"], "", "401"),
                (["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(good)", "Origin: https://evil.example"], "", "403"),
            ]
            for (headers, query, precise) in refusals {
                #expect(try await status(headers, query: query) == "400", "\(headers) \(query)")
                let plain = try await LiveServerTests.curl(
                    ["-o", "/dev/null", "-w", "%{http_code}"] + headers.flatMap { ["-H", $0] }
                        + ["http://127.0.0.1:\(port)/v1/sessions/tty-4/tty\(query)"], seconds: 5)
                #expect(plain == precise, "\(headers) \(query)")
            }
            #expect(try await status(["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(good)"]) == "101")
            #expect(try await status(["Sec-WebSocket-Protocol: sandcastle.tty.v1, bearer.\(good)", "Origin: https://app.example.com"]) == "101")
            #expect(try await status(["Authorization: Bearer \(good)"]) == "101")
            let upgradeRequired = try await LiveServerTests.curl(
                ["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(good)", "http://127.0.0.1:\(port)/v1/sessions/tty-4/tty"],
                seconds: 5)
            #expect(upgradeRequired == "426")
            // The client library refuses too: the upgrade never happens.
            await #expect(throws: (any Error).self) {
                try await Self.connect(port: port, session: "tty-4", token: otherSession)
            }
        }
    }
}
