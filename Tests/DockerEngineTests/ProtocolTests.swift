import NIOCore
import Testing

@testable import DockerEngine

@Suite("Endpoints, versions and stream framing")
struct ProtocolTests {
    @Test func endpoints() throws {
        #expect(try DockerEndpoint(parsing: "unix:///var/run/docker.sock") == .unix(path: "/var/run/docker.sock"))
        #expect(try DockerEndpoint(parsing: "tcp://127.0.0.1:2375") == .tcp(host: "127.0.0.1", port: 2375))
        #expect(try DockerEndpoint(parsing: "tcp://[::1]:2375") == .tcp(host: "::1", port: 2375))
        #expect(try DockerEndpoint.fromEnvironment([:]) == .defaultSocket)
        #expect(try DockerEndpoint.fromEnvironment(["DOCKER_HOST": ""]) == .defaultSocket)
        #expect(try DockerEndpoint.fromEnvironment(["DOCKER_HOST": "unix:///run/x.sock"]) == .unix(path: "/run/x.sock"))
        #expect(DockerEndpoint.tcp(host: "::1", port: 1).baseURL == "http://[::1]:1")

        for bad in ["unix://relative.sock", "ssh://host", "tcp://host", "tcp://host:0", "tcp://:80", "/var/run/docker.sock"] {
            #expect(throws: DockerError.self, "\(bad)") { try DockerEndpoint(parsing: bad) }
        }
        do {
            _ = try DockerEndpoint(parsing: "ssh://user@host")
        } catch {
            #expect(error.code == .invalidEndpoint)
            #expect(error.description.contains("ssh://user@host"))
            #expect(error.hint?.contains("DOCKER_HOST") == true)
        }
    }

    @Test func versionNegotiation() {
        let v = { (text: String) in DockerAPIVersion(text)! }
        #expect(DockerAPIVersion.negotiate(engineMaximum: v("1.41"), engineMinimum: v("1.12")) == .success(v("1.41")))
        #expect(DockerAPIVersion.negotiate(engineMaximum: v("1.45"), engineMinimum: v("1.24")) == .success(v("1.45")))
        // A newer engine than we know: speak our newest.
        #expect(DockerAPIVersion.negotiate(engineMaximum: v("1.52"), engineMinimum: v("1.24")) == .success(DockerAPIVersion.maximum))
        #expect(DockerAPIVersion.negotiate(engineMaximum: v("1.40"), engineMinimum: nil) == .failure(.engineTooOld(engine: v("1.40"))))
        #expect(DockerAPIVersion.negotiate(engineMaximum: v("2.0"), engineMinimum: v("1.99")) == .failure(.engineTooNew(engineMinimum: v("1.99"))))
        #expect(v("1.9") < v("1.10"))
        #expect(DockerAPIVersion("1") == nil)
        #expect(DockerAPIVersion("1.x") == nil)
        #expect(DockerAPIVersion("1.41.2") == nil)
    }

    @Test func demultiplexesFramesSplitAnywhere() throws {
        var stream = StreamDemultiplexer.encode(.stdout, Array("hello ".utf8))
        var second = StreamDemultiplexer.encode(.stderr, Array("oops".utf8))
        var third = StreamDemultiplexer.encode(.stdout, Array("world".utf8))
        var empty = StreamDemultiplexer.encode(.stdout, [])
        stream.writeBuffer(&second)
        stream.writeBuffer(&empty)
        stream.writeBuffer(&third)
        let bytes = Array(stream.readableBytesView)

        for chunkSize in [1, 3, 7, 8, 9, bytes.count] {
            var demultiplexer = StreamDemultiplexer()
            var frames: [StreamFrame] = []
            for start in stride(from: 0, to: bytes.count, by: chunkSize) {
                frames += try demultiplexer.feed(ByteBuffer(bytes: bytes[start..<min(start + chunkSize, bytes.count)]))
            }
            try demultiplexer.finish()
            #expect(frames.map(\.stream) == [.stdout, .stderr, .stdout, .stdout], "chunk size \(chunkSize)")
            #expect(frames.map { String(buffer: $0.payload) } == ["hello ", "oops", "", "world"], "chunk size \(chunkSize)")
        }
    }

    @Test func demultiplexerRefusesWhatIsNotAFrame() throws {
        var demultiplexer = StreamDemultiplexer()
        // Raw TTY output read as if it were multiplexed.
        #expect(throws: StreamDemultiplexer.Failure.self) {
            try demultiplexer.feed(ByteBuffer(string: "hello world\r\n"))
        }
        var small = StreamDemultiplexer(maximumFrameBytes: 4)
        #expect(throws: StreamDemultiplexer.Failure.frameTooLarge(5)) {
            try small.feed(StreamDemultiplexer.encode(.stdout, Array("12345".utf8)))
        }
        var cut = StreamDemultiplexer()
        var partial = StreamDemultiplexer.encode(.stdout, Array("12345".utf8))
        partial.moveWriterIndex(to: partial.writerIndex - 2)
        #expect(try cut.feed(partial).isEmpty)
        #expect(throws: StreamDemultiplexer.Failure.truncated(bufferedBytes: 11)) { try cut.finish() }
    }

    @Test func upgradeResponseHeads() {
        let upgraded = HijackHandshakeHandler.parseHead(
            "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".utf8)
        #expect(upgraded.status == 101)
        let notFound = HijackHandshakeHandler.parseHead("HTTP/1.1 404 Not Found\r\nContent-Length:  45 \r\n\r\n".utf8)
        #expect(notFound.status == 404)
        #expect(notFound.contentLength == 45)
        #expect(HijackHandshakeHandler.parseHead("SSH-2.0-OpenSSH\r\n\r\n".utf8).status == nil)
        #expect(HijackHandshakeHandler.parseHead("HTTP/1.1 999 Nope\r\n\r\n".utf8).status == nil)
    }

    @Test func pathsAreVersionedAndEncoded() throws {
        #expect(DockerClient.percentEncode("a/b c?d") == "a%2Fb%20c%3Fd")
        #expect(DockerClient.percentEncode(#"{"label":["x=y"]}"#) == "%7B%22label%22%3A%5B%22x%3Dy%22%5D%7D")
        #expect(throws: DockerError.self) { try DockerClient.segment("", method: "GET", what: "container") }
        #expect(throws: DockerError.self) { try DockerClient.segment("a\0b", method: "GET", what: "container") }
        #expect(try DockerClient.segment("../../_ping", method: "GET", what: "container") == "..%2F..%2F_ping")
        #expect(DockerClient.percentEncode("sandcastle-a.b_C~9") == "sandcastle-a.b_C~9")
        #expect(DockerClient.percentEncode("caf\u{E9} 100%") == "caf%C3%A9%20100%25")
    }

    @Test func headLinesAsTheEngineSendsThem() {
        #expect(HTTPHead.statusCode("HTTP/1.1 200 OK\r\n".utf8) == 200)
        #expect(HTTPHead.statusCode("HTTP/1.0 204\r\n".utf8) == 204)
        #expect(HTTPHead.statusCode("HTTP/1.1 20 OK\r\n".utf8) == nil)
        #expect(HTTPHead.statusCode("HTTP/1.1 2000 OK\r\n".utf8) == nil)
        #expect(HTTPHead.statusCode("Api-Version: 1.47\r\n".utf8) == nil)
        let field = HTTPHead.field("Api-Version:\t1.47 \r\n".utf8)
        #expect(field?.name == "api-version")
        #expect(field?.value == "1.47")
        #expect(HTTPHead.field("Ostype:\r\n".utf8)?.value == "")
        #expect(HTTPHead.field("no colon\r\n".utf8) == nil)
        #expect(HTTPHead.isBlankLine("\r\n".utf8))
        #expect(!HTTPHead.isBlankLine("x\r\n".utf8))
    }
}
