import Foundation
import NIOCore
import Testing

@testable import DockerEngine

#if canImport(Glibc)
import Glibc
#endif

/// What the client does when the engine is missing, broken or hostile: a typed error that says
/// what happened, never a crash or a hang.
@Suite("A missing, broken or hostile engine")
struct BadEngineTests {
    static func configuration(_ socketPath: String, timeout: Duration = .seconds(5), maxBytes: Int = 1 << 20)
        -> DockerClient.Configuration
    {
        DockerClient.Configuration(
            endpoint: .unix(path: socketPath), requestTimeout: timeout, connectTimeout: .seconds(2), maxResponseBytes: maxBytes)
    }

    /// A stub that answers the version handshake and hands every other request to `respond`.
    static func stub(apiVersion: String = "1.41", _ respond: @escaping @Sendable (StubEngine.Request, Int32) -> Void) throws
        -> StubEngine
    {
        try StubEngine { request, fd in
            if StubEngine.answerHandshake(request, fd, apiVersion: apiVersion) { return }
            respond(request, fd)
        }
    }

    static func connectError(_ configuration: DockerClient.Configuration) async -> DockerError? {
        do {
            _ = try await DockerClient.connect(configuration)
            return nil
        } catch {
            return error as? DockerError
        }
    }

    @Test func missingSocket() async throws {
        let error = await Self.connectError(Self.configuration("/tmp/sandcastle-no-such-dir/docker.sock"))
        #expect(error?.code == .engineUnreachable)
        #expect(error?.detail.contains("/tmp/sandcastle-no-such-dir/docker.sock does not exist") == true)
        #expect(error?.hint?.contains("dockerd") == true)
    }

    @Test func socketNobodyListensOn() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID().uuidString.prefix(8)).sock").path
        close(try StubEngine.listen(at: path))  // the file stays, the listener is gone
        defer { unlink(path) }
        let error = await Self.connectError(Self.configuration(path))
        #expect(error?.code == .engineUnreachable)
        #expect(error?.detail.contains("nothing accepts connections") == true)
    }

    @Test func pathThatIsNotASocket() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plain-\(UUID().uuidString.prefix(8))").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        defer { unlink(path) }
        let error = await Self.connectError(Self.configuration(path))
        #expect(error?.code == .engineUnreachable)
        #expect(error?.detail.contains("is not a socket") == true)
    }

    @Test func unreachableTCPEndpoint() async throws {
        // Port 1 on loopback: nothing listens there.
        let configuration = DockerClient.Configuration(endpoint: .tcp(host: "127.0.0.1", port: 1), connectTimeout: .seconds(2))
        let error = await Self.connectError(configuration)
        #expect(error?.code == .engineUnreachable)
        #expect(error?.detail.contains("tcp://127.0.0.1:1") == true)
    }

    @Test func somethingThatIsNotAnEngine() async throws {
        let stub = try StubEngine { _, fd in StubEngine.write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") }
        defer { stub.stop() }
        let error = await Self.connectError(Self.configuration(stub.socketPath))
        #expect(error?.code == .protocolViolation)
        #expect(error?.detail.contains("Docker engine") == true)
    }

    @Test func garbageInsteadOfHTTP() async throws {
        let stub = try StubEngine { _, fd in StubEngine.write(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n") }
        defer { stub.stop() }
        let error = await Self.connectError(Self.configuration(stub.socketPath))
        #expect(error?.code == .protocolViolation)
        #expect(error?.path == "/_ping")
    }

    @Test func engineOlderThanTheMinimum() async throws {
        let stub = try Self.stub(apiVersion: "1.30") { _, _ in }
        defer { stub.stop() }
        let error = await Self.connectError(Self.configuration(stub.socketPath))
        #expect(error?.code == .versionTooOld)
        #expect(error?.detail.contains("1.30") == true)
        #expect(error?.detail.contains("1.41") == true)
    }

    @Test func negotiatesTheEnginesVersion() async throws {
        let stub = try Self.stub(apiVersion: "1.43") { request, fd in StubEngine.json(fd, #"{"Version":"x","ApiVersion":"1.43"}"#) }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        #expect(client.apiVersion == DockerAPIVersion(major: 1, minor: 43))
        _ = try await client.version()
        #expect(stub.receivedRequests.last?.path == "/v1.43/version")
    }

    @Test func closedInTheMiddleOfTheBody() async throws {
        let stub = try Self.stub { _, fd in
            StubEngine.write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Id\":\"abc")
        }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        let error = await #expect(throws: DockerError.self) { try await client.inspectContainer("abc") }
        #expect(error?.code == .protocolViolation)
        #expect(error?.detail.contains("middle of the body") == true)
        #expect(error?.path == "/v1.41/containers/abc/json")
    }

    @Test func bodyLargerThanTheLimit() async throws {
        let stub = try Self.stub { _, fd in
            let size = 8 << 20
            StubEngine.write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(size)\r\n\r\n")
            let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 64 << 10)
            for _ in 0..<(size / chunk.count) { StubEngine.write(fd, chunk) }
        }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath, maxBytes: 1 << 20))
        let error = await #expect(throws: DockerError.self) { try await client.info() }
        #expect(error?.code == .responseTooLarge)
    }

    @Test func bodyThatDoesNotDecode() async throws {
        let stub = try Self.stub { _, fd in StubEngine.json(fd, #"{"Id": 42, "Name": ["not", "a", "string"]}"#) }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        let error = await #expect(throws: DockerError.self) { try await client.inspectContainer("x") }
        #expect(error?.code == .undecodableBody)
        #expect(error?.body?.contains(#""Id": 42"#) == true)
        #expect(error?.description.contains("ContainerInspect") == true)
    }

    @Test func silentEngineTimesOut() async throws {
        let stub = try Self.stub { _, _ in Thread.sleep(forTimeInterval: 30) }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath, timeout: .milliseconds(300)))
        let start = ContinuousClock.now
        let error = await #expect(throws: DockerError.self) { try await client.info() }
        #expect(error?.code == .timeout)
        // Well before the stub would have answered: the timeout, not the stub, ended the call.
        #expect(ContinuousClock.now - start < .seconds(15))

        // A stream whose head never comes times out too; so does an upgrade that is never answered.
        let streamError = await #expect(throws: DockerError.self) { try await client.events() }
        #expect(streamError?.code == .timeout)
        let attachError = await #expect(throws: DockerError.self) { try await client.attachContainer("x", tty: true) }
        #expect(attachError?.code == .timeout)
    }

    @Test func cancellationEndsACallAtOnce() async throws {
        let stub = try Self.stub { _, _ in Thread.sleep(forTimeInterval: 60) }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath, timeout: .seconds(30)))
        let task = Task { try await client.info() }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        // Long before the stub's answer or the 30 s timeout: the cancellation ended it.
        #expect(ContinuousClock.now - start < .seconds(15))
        guard case .failure(let error) = result else {
            Issue.record("a cancelled call succeeded")
            return
        }
        #expect((error as? DockerError)?.code == .cancelled)
    }

    @Test func streamErrorsCarryTheEnginesMessage() async throws {
        let stub = try Self.stub { _, fd in StubEngine.json(fd, status: 500, #"{"message":"events are broken"}"#) }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        let error = await #expect(throws: DockerError.self) { try await client.events() }
        #expect(error?.code == .http)
        #expect(error?.status == 500)
        #expect(error?.engineMessage == "events are broken")
    }

    @Test func slowStreamReaderLosesNothing() async throws {
        // 20,000 events (several MiB): far more than the stream buffers, so the transfer must
        // pause while the reader dawdles and resume without losing or repeating a byte.
        let count = 20_000
        let stub = try Self.stub { _, fd in
            StubEngine.write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            var batch = ""
            for index in 0..<count {
                batch += #"{"Type":"container","Action":"start","Actor":{"ID":"\#(index)","Attributes":{"pad":"\#(String(repeating: "x", count: 200))"}},"time":1}"# + "\n"
                if batch.utf8.count > 60_000 {
                    StubEngine.write(fd, batch)
                    batch = ""
                }
            }
            StubEngine.write(fd, batch)
        }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        var expected = 0
        for try await event in try await client.events() {
            #expect(event.actor.id == "\(expected)")
            expected += 1
            if expected % 2_000 == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(expected == count)
    }

    @Test func upgradeKeepsBytesThatArriveWithTheHead() async throws {
        // The engine may write the container's first output in the same packet as its answer.
        let stub = try Self.stub { request, fd in
            StubEngine.write(
                fd,
                "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst bytes|")
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = read(fd, &buffer, buffer.count)
            if count > 0 { StubEngine.write(fd, "echo:" + String(decoding: buffer[..<count], as: UTF8.self)) }
        }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        let stream = try await client.attachContainer("x", tty: true)
        let text = try await stream.executeThenClose { output, input in
            try await input.write("ping")
            var text = ""
            for try await chunk in output { text += String(buffer: chunk) }
            return text
        }
        #expect(text == "first bytes|echo:ping")
        let head = try #require(stub.receivedRequests.last?.head)
        #expect(head.contains("Upgrade: tcp"))
        #expect(head.contains("Connection: Upgrade"))
        #expect(head.hasPrefix("POST /v1.41/containers/x/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=0 HTTP/1.1\r\n"))
    }

    @Test func upgradeRefusedOrBroken() async throws {
        let stub = try Self.stub { request, fd in
            if request.path.contains("/containers/gone/") {
                StubEngine.write(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nNo such container: gone\r\n")
            } else if request.path.contains("/containers/busy/") {
                StubEngine.json(fd, status: 409, #"{"message":"container busy is paused"}"#)
            } else {
                StubEngine.write(fd, "NOT HTTP AT ALL\r\n\r\n")
            }
        }
        defer { stub.stop() }
        let client = try await DockerClient.connect(Self.configuration(stub.socketPath))
        let gone = await #expect(throws: DockerError.self) { try await client.attachContainer("gone", tty: true) }
        #expect(gone?.code == .notFound)
        #expect(gone?.engineMessage == "No such container: gone")
        let busy = await #expect(throws: DockerError.self) { try await client.attachContainer("busy", tty: true) }
        #expect(busy?.code == .conflict)
        #expect(busy?.engineMessage == "container busy is paused")
        let garbage = await #expect(throws: DockerError.self) { try await client.attachContainer("x", tty: true) }
        #expect(garbage?.code == .protocolViolation)
    }
}

@Suite("Why a socket could not be connected")
struct SocketDiagnosisTests {
    @Test func permissionDeniedNamesTheSocketAndItsOwner() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("perm-\(UUID().uuidString.prefix(8)).sock").path
        let fd = try StubEngine.listen(at: path)
        defer {
            close(fd)
            unlink(path)
        }
        chmod(path, 0o660)
        // What connect(2) reports to a user outside the socket's group; root never sees it, so the
        // errno is given here as libcurl would report it.
        let diagnosis = SocketDiagnosis.explain(socketPath: path, connectErrno: EACCES)
        #expect(diagnosis.detail.contains("permission denied on the Docker socket \(path)"))
        #expect(diagnosis.detail.contains("mode 660"))
        #expect(diagnosis.hint.contains("docker"))
    }

    @Test func missingAndRefused() throws {
        #expect(SocketDiagnosis.explain(socketPath: "/nonexistent/docker.sock", connectErrno: ENOENT).detail.contains("does not exist"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("refused-\(UUID().uuidString.prefix(8)).sock").path
        close(try StubEngine.listen(at: path))
        defer { unlink(path) }
        #expect(SocketDiagnosis.explain(socketPath: path, connectErrno: ECONNREFUSED).detail.contains("nothing accepts"))
    }
}
