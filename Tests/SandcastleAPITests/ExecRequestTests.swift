import Foundation
import NIOCore
import Testing

@testable import SandcastleAPI

@Suite("The exec request and result")
struct ExecRequestTests {
    func decode(_ text: String) throws -> ExecRequestBody { try ExecRequestBody.decode(Data(text.utf8)) }

    func refusal(_ text: String, streaming: Bool = false) -> String? {
        do {
            _ = try decode(text).request(streaming: streaming)
            _ = try decode(text).stdinBytes()
            return nil
        } catch let error as APIError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func aPlainCommand() throws {
        let request = try decode(#"{"command":["ls","-la"],"timeoutSeconds":2.5,"env":["A=b"]}"#).request(streaming: false)
        #expect(request.command == ["ls", "-la"] && !request.tty && !request.stdin && request.env == ["A=b"])
        #expect(request.timeout == .milliseconds(2500))
    }

    @Test func stdinIsTextOrBase64OnPostAndAFlagOnTheWebSocket() throws {
        #expect(try decode(#"{"command":["cat"],"stdin":"hi"}"#).stdinBytes() == Array("hi".utf8))
        #expect(try decode(#"{"command":["cat"],"stdinBase64":"AP8="}"#).stdinBytes() == [0, 255])
        #expect(try decode(#"{"command":["cat"],"stdinBase64":"AP8="}"#).request(streaming: false).stdin)
        #expect(try decode(#"{"command":["cat"],"stdin":true,"tty":true}"#).request(streaming: true).tty)
        #expect(refusal(#"{"command":["cat"],"stdin":true}"#)?.contains("stdin") == true)
        #expect(refusal(#"{"command":["cat"],"stdin":"x"}"#, streaming: true)?.contains("binary frames") == true)
        #expect(refusal(#"{"command":["cat"],"stdin":"x","stdinBase64":"AA=="}"#)?.contains("not both") == true)
        #expect(refusal(#"{"command":["cat"],"stdinBase64":"%%%"}"#)?.contains("base64") == true)
    }

    @Test func badRequestsNameTheField() {
        #expect(refusal(#"[]"#)?.contains("JSON object") == true)
        #expect(refusal(#"{}"#)?.contains("command") == true)
        #expect(refusal(#"{"command":"ls"}"#)?.contains("command") == true)
        #expect(refusal(#"{"command":["ls"],"privileged":true}"#)?.contains("privileged") == true)
        #expect(refusal(#"{"command":["ls"],"timeoutSeconds":0}"#)?.contains("timeoutSeconds") == true)
        #expect(refusal(#"{"command":["ls"],"maxOutputBytes":-1}"#)?.contains("maxOutputBytes") == true)
        #expect(refusal(#"{"command":["ls"],"encoding":"hex"}"#)?.contains("encoding") == true)
        #expect(refusal(#"{"command":["ls"],"tty":true}"#)?.contains("WebSocket") == true)
    }

    @Test func outputBeyondTheCapIsCountedNotKept() {
        var output = CappedOutput(cap: 5)
        output.append(ByteBuffer(string: "abc"))
        output.append(ByteBuffer(string: "defgh"))
        #expect(output.total == 8 && output.truncated)
        #expect(output.text(base64: false) == "abcde")
        #expect(output.text(base64: true) == Data("abcde".utf8).base64EncodedString())
    }

    @Test func controlMessages() {
        #expect(ExecControl.parse(#"{"type":"eof"}"#) == .eof)
        #expect(ExecControl.parse(#"{"type":"resize","cols":80,"rows":24}"#) == .resize(columns: 80, rows: 24))
        guard case .invalid = ExecControl.parse(#"{"type":"signal","name":"INT"}"#) else {
            Issue.record("signal is not an exec control message")
            return
        }
    }
}

@Suite("Control messages on the terminal and exec WebSockets")
struct ControlMessageTests {
    @Test("keys sorted; strings, booleans and integers keep their JSON types")
    func encoding() {
        #expect(
            TerminalController.control(["type": "hello", "session": "s/1", "role": "rw", "offset": .number(UInt64(42))])
                == #"{"offset":42,"role":"rw","session":"s/1","type":"hello"}"#)
        #expect(
            TerminalController.control(["type": "exit", "exitCode": -1, "timedOut": true, "durationMs": .number(Int64(1500))])
                == #"{"durationMs":1500,"exitCode":-1,"timedOut":true,"type":"exit"}"#)
        #expect(TerminalController.control(["message": "say \"hi\"\n"]) == #"{"message":"say \"hi\"\n"}"#)
        #expect(TerminalController.control(["offset": .number(UInt64.max)]) == #"{"offset":9223372036854775807}"#)
    }
}
