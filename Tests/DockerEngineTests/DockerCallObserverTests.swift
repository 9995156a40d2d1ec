import Foundation
import Synchronization
import Testing

@testable import DockerEngine

/// Every engine call reaches the observer once, named by its operation (never by ids), with its
/// outcome: what the latency metric is made of.
@Suite("Engine call observer")
struct DockerCallObserverTests {
    final class Recorder: DockerCallObserver {
        let calls = Mutex<[DockerCall]>([])
        func dockerCallFinished(_ call: DockerCall) { calls.withLock { $0.append(call) } }
        var recorded: [DockerCall] { calls.withLock { $0 } }
    }

    @Test(arguments: [
        ("POST", "/v1.41/containers/create?name=sandcastle-x", "POST /containers/create"),
        ("GET", "/v1.47/containers/json?all=1&filters=%7B%7D", "GET /containers/json"),
        ("POST", "/v1.41/containers/4f2a9c/attach?stream=1&stdin=1", "POST /containers/{id}/attach"),
        ("DELETE", "/v1.41/containers/sandcastle-abc?force=1&v=0", "DELETE /containers/{id}"),
        ("GET", "/v1.41/containers/4f2a/json", "GET /containers/{id}/json"),
        ("POST", "/v1.41/exec/e1e1/start", "POST /exec/{id}/start"),
        ("GET", "/v1.41/images/sandcastle%2Ftestbox%3Alatest/json", "GET /images/{id}/json"),
        ("GET", "/v1.41/events?filters=x", "GET /events"),
        ("GET", "/_ping", "GET /_ping"),
        ("GET", "/version", "GET /version"),
        ("GET", "/v1.41/info", "GET /info"),
    ])
    func operationNamesCarryNoIds(method: String, path: String, expected: String) {
        #expect(DockerCall.operation(method: method, path: path) == expected)
    }

    @Test func everyCallIsObservedWithItsOutcome() async throws {
        let stub = try StubEngine { request, fd in
            if StubEngine.answerHandshake(request, fd) { return }
            switch request.path {
            case let path where path.contains("/containers/missing/"):
                StubEngine.json(fd, status: 404, #"{"message":"No such container: missing"}"#)
            case let path where path.contains("/containers/slow/"):
                Thread.sleep(forTimeInterval: 10)
            default:
                StubEngine.write(fd, "HTTP/1.1 204 No Content\r\nApi-Version: 1.41\r\n\r\n")
            }
        }
        defer { stub.stop() }
        let recorder = Recorder()
        let client = try await DockerClient.connect(
            .init(
                endpoint: .unix(path: stub.socketPath), requestTimeout: .seconds(3), connectTimeout: .seconds(3),
                observer: recorder))
        try await client.startContainer("present")
        await #expect(throws: DockerError.self) { try await client.startContainer("missing") }
        await #expect(throws: DockerError.self) { try await client.startContainer("slow") }

        let calls = recorder.recorded
        #expect(calls.map(\.operation) == ["GET /_ping", "GET /version"] + Array(repeating: "POST /containers/{id}/start", count: 3))
        #expect(calls.map(\.outcome) == ["ok", "ok", "ok", "notFound", "timeout"])
        #expect(calls.last.map { $0.duration >= .milliseconds(2_500) } == true, "the timed-out call's duration: \(calls.last?.duration as Any)")
    }
}
