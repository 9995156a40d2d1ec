import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SandcastleAPI
import SandcastleTestSupport
import SessionStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The API over a real listening socket, with real clients (curl for SSE, raw sockets for abuse).
@Suite("The live server", .timeLimit(.minutes(3)), .requiresEngine)
struct LiveServerTests {
    /// Runs `body` with the application listening on an ephemeral loopback port.
    static func withLiveServer<T: Sendable>(
        headerTimeout: Duration = .seconds(10), viewerQueueBytes: Int = 1 << 20,
        _ body: @Sendable (APIFixture, Int) async throws -> T
    ) async throws -> T {
        let fixture = try await APIFixture.make(viewerQueueBytes: viewerQueueBytes)
        let relay = Task { await fixture.relay.runTerminals() }
        defer { relay.cancel() }
        do {
            let app = buildApplication(
                fixture.dependencies, address: .hostname("127.0.0.1", port: 0), headerTimeout: headerTimeout,
                logger: Logger(label: "test.live"))
            let result = try await app.test(.live) { client in
                guard let port = client.port else { throw FixtureError(description: "the live server has no port") }
                return try await body(fixture, port)
            }
            await fixture.tearDown()
            return result
        } catch {
            await fixture.tearDown()
            throw error
        }
    }

    /// `curl -N` for `seconds`, returning what it printed. Runs on a thread of its own: waiting
    /// for the child must not occupy one of the few threads of Swift's cooperative pool, which the
    /// server under test needs.
    static func curl(_ arguments: [String], seconds: Int) async throws -> String {
        try await offPool { try curlBlocking(arguments, seconds: seconds) }
    }

    static func curlBlocking(_ arguments: [String], seconds: Int) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-sN", "--max-time", String(seconds)] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func eventIDs(_ text: String) -> [Int64] {
        text.split(separator: "\n").compactMap { line in line.hasPrefix("id: ") ? Int64(line.dropFirst(4)) : nil }
    }

    @Test func eventsResumeWithoutGapsOrRepeats() async throws {
        try await Self.withLiveServer { fixture, port in
            let key = APIFixture.keys[.viewer] ?? ""
            let url = "http://127.0.0.1:\(port)/v1/events"
            _ = try await fixture.manager.manager.create(id: "sse-1", request: fixture.manager.request("sse"), owner: "t").session
            // From the start of the log: created, started.
            let first = try await Self.curl(["-H", "Authorization: Bearer \(key)", "-H", "Last-Event-ID: 0", url], seconds: 6)
            let firstIDs = Self.eventIDs(first)
            #expect(first.contains("event: session.created"))
            #expect(first.contains("event: session.started"))
            #expect(!firstIDs.isEmpty && firstIDs == Array(1...Int64(max(firstIDs.count, 1))), "\(first)")

            // Disconnected; meanwhile the session stops. Resuming from the last id seen gets
            // exactly what happened since.
            _ = try await fixture.manager.manager.stop("sse-1")
            let resumed = try await Self.curl(["-H", "Authorization: Bearer \(key)", "-H", "Last-Event-ID: \(firstIDs.last ?? 0)", url], seconds: 6)
            let resumedIDs = Self.eventIDs(resumed)
            let last = firstIDs.last ?? 0
            #expect(!resumedIDs.isEmpty && resumedIDs == Array((last + 1)...(last + Int64(max(resumedIDs.count, 1)))), "\(resumed)")
            #expect(resumed.contains("event: session.stopped"))
            #expect(resumed.contains("event: session.exited"))
            #expect(resumed.contains(#""session":"sse-1""#))
            // Heartbeats keep an idle stream open.
            #expect(resumed.contains(": keep-alive"))

            let unauthenticated = try await Self.curl(["-o", "/dev/null", "-w", "%{http_code}", url], seconds: 10)
            #expect(unauthenticated == "401")
            let badResume = try await Self.curl(["-H", "Authorization: Bearer \(key)", "-H", "Last-Event-ID: soon", "-w", "%{http_code}", url], seconds: 10)
            #expect(badResume.hasSuffix("400"))
        }
    }

    @Test func silentConnectionsAreClosedWhileOthersAreServed() async throws {
        try await Self.withLiveServer(headerTimeout: .seconds(1)) { fixture, port in
            let slow = try RawConnection(port: port)
            slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n")  // the head never ends
            // Another client is served meanwhile.
            let health = try await Self.curl(["http://127.0.0.1:\(port)/healthz"], seconds: 5)
            #expect(health.contains("ok"))
            let closed = await offPool { slow.waitForClose(timeout: 10) }
        #expect(closed, "the server kept a silent half-sent request open")
        }
    }

    @Test func connectAndDropCyclesLeakNoDescriptors() async throws {
        try await Self.withLiveServer { fixture, port in
            // The server's own sockets on its port that are still open (a socket closed on both
            // sides has no inode left), not every descriptor of this process: the suites running
            // beside this one open and close their own meanwhile.
            func serverSockets() -> Int {
                let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
                let local = String(format: ":%04X", port)
                return table.split(separator: "\n").dropFirst().count { line in
                    let fields = line.split(separator: " ")
                    return fields.count > 9 && fields[1].hasSuffix(local) && fields[9] != "0"
                }
            }
            func cycles(_ count: Int) throws {
                for index in 0..<count {
                    let connection = try RawConnection(port: port)
                    if index % 2 == 0 { connection.send("GET /v1/sessions HTTP/1.1\r\nHost: x\r\n") }
                    connection.close()
                }
            }
            func settled(atMost limit: Int) async throws -> Int {
                var count = serverSockets()
                for _ in 0..<50 where count > limit {
                    try await Task.sleep(for: .milliseconds(100))
                    count = serverSockets()
                }
                return count
            }
            // The first cycles create what is made once (event loop resources, the engine
            // client's connections); a leak is what keeps growing after that.
            try cycles(200)
            try await Task.sleep(for: .seconds(1))
            let warm = serverSockets()
            try cycles(1000)
            let after = try await settled(atMost: warm)
            #expect(after <= warm, "the server's open sockets: \(warm) after warming up, \(after) after 1000 more connect-and-drop cycles")
            let health = try await Self.curl(["http://127.0.0.1:\(port)/healthz"], seconds: 5)
            #expect(health.contains("ok"))
        }
    }
}

/// Runs blocking work on a thread of its own and awaits its result.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// A plain TCP client socket, for requests no well-behaved client would send.
final class RawConnection: Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw FixtureError(description: "connect failed: errno \(errno)")
        }
    }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the peer closed the connection within `timeout` seconds.
    func waitForClose(timeout: Int) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            if poll(&descriptor, 1, 200) > 0 {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return true }
            }
        }
        return false
    }

    func close() {
        Glibc.close(fd)
    }
}
