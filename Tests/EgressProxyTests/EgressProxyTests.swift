import EgressPolicy
import EgressProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The proxy in this process against a server of the test's on loopback. Loopback is a refused
/// range, so these tests also show that listing it explicitly (as a block) is what lets it through.
@Suite struct EgressProxyTests {
    @Test func connectTunnelsBytesBothWaysAndCounts() async throws {
        try await withFixture(allow: ["127.0.0.1:{port}", "allowed.test:{port}"]) { fixture in
            let reply = try await fixture.exchange("CONNECT allowed.test:\(fixture.port) HTTP/1.1\r\nHost: x\r\n\r\n", then: "ping\n")
            #expect(reply.hasPrefix("HTTP/1.1 200 Connection established\r\n\r\n"), "\(reply)")
            #expect(reply.hasSuffix("echo: ping\n"), "\(reply)")
            try await fixture.waitForClosed(1)
            let status = try #require(fixture.proxy.status(sessionID: "s1"))
            #expect(status.counters.connections == 1)
            #expect(status.counters.bytesUp == 5)
            #expect(status.counters.bytesDown == 11)
            let closed = fixture.observer.closed.withLockedValue { $0 }
            #expect(closed.first?.host == "allowed.test")
            #expect(closed.first?.address == "127.0.0.1")
        }
    }

    @Test func anUnlistedDestinationGets403WithItsReason() async throws {
        try await withFixture(allow: ["127.0.0.1:{port}"]) { fixture in
            let reply = try await fixture.exchange("CONNECT evil.example:443 HTTP/1.1\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 403 egress to evil.example:443 is not allowed by profile test\r\n"), "\(reply)")
            #expect(fixture.observer.denied.withLockedValue { $0.map(\.status) } == [403])
        }
    }

    @Test func anAllowedNameResolvingToLoopbackIsRefused() async throws {
        try await withFixture(allow: ["allowed.test:{port}"]) { fixture in
            let reply = try await fixture.exchange("CONNECT allowed.test:\(fixture.port) HTTP/1.1\r\n\r\n")
            #expect(reply.contains("403 egress to allowed.test:\(fixture.port) is not allowed: it resolves to 127.0.0.1 (loopback)"), "\(reply)")
        }
    }

    @Test func plainHTTPIsForwardedInOriginForm() async throws {
        try await withFixture(allow: ["127.0.0.1:{port}"]) { fixture in
            let reply = try await fixture.exchange(
                "POST http://127.0.0.1:\(fixture.port)/path?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc")
            #expect(reply.contains("echo: POST /path?q=1 HTTP/1.1"), "\(reply)")
            #expect(reply.lowercased().contains("connection: close"), "\(reply)")
            #expect(reply.hasSuffix("abc"), "\(reply)")
        }
    }

    @Test func theConnectionCapGets429UntilATunnelCloses() async throws {
        // The idle timeout stays long here: the first tunnel must still hold its place however
        // slowly the second request arrives.
        try await withFixture(allow: ["127.0.0.1:{port}"], maxConnections: 1) { fixture in
            let first = try fixture.openTunnel()
            let second = try await fixture.exchange("CONNECT 127.0.0.1:\(fixture.port) HTTP/1.1\r\n\r\n")
            #expect(second.hasPrefix("HTTP/1.1 429 egress limit reached"), "\(second)")
            close(first)
            try await fixture.waitForClosed(1)
            let third = try await fixture.exchange("CONNECT 127.0.0.1:\(fixture.port) HTTP/1.1\r\n\r\nx\n")
            #expect(third.hasPrefix("HTTP/1.1 200"), "the place is free again: \(third)")
        }
    }

    @Test func anIdleTunnelCloses() async throws {
        try await withFixture(allow: ["127.0.0.1:{port}"], idle: .milliseconds(300)) { fixture in
            let tunnel = try fixture.openTunnel()
            defer { close(tunnel) }
            try await fixture.waitForClosed(1)
            #expect(fixture.observer.closed.withLockedValue { $0.first?.closeReason } == "idle")
        }
    }

    @Test func nameMapFileParses() throws {
        let map = try EgressNameMap.parse("# test names\n10.0.0.1 a.test b.test\n\n::1 c.test # v6\n", file: "hosts")
        #expect(map.addresses["b.test"] == [IPAddress("10.0.0.1")!])
        #expect(map.addresses["c.test"] == [IPAddress("::1")!])
        #expect(throws: EgressProxyError.self) { try EgressNameMap.parse("nonsense\n", file: "hosts") }
    }
}

// MARK: - Fixture

final class RecordingObserver: EgressObserver {
    let denied = NIOLockedValueBox<[EgressDenial]>([])
    let closed = NIOLockedValueBox<[EgressTunnelReport]>([])
    func egressDenied(_ denial: EgressDenial) { denied.withLockedValue { $0.append(denial) } }
    func egressConnected(_ tunnel: EgressTunnelReport) {}
    func egressClosed(_ tunnel: EgressTunnelReport) { closed.withLockedValue { $0.append(tunnel) } }
    func egressActivity(sessionID: String) {}
}

struct Fixture {
    let proxy: EgressProxy
    let observer: RecordingObserver
    let socket: String
    let port: Int

    /// Sends `request` (and, once the proxy answered, `then`, as a client of a tunnel does),
    /// half-closes, and reads until the proxy closes.
    func exchange(_ request: String, then payload: String? = nil) async throws -> String {
        let fd = try connectUnix()
        defer { close(fd) }
        return await Task.detached {
            _ = request.withCString { write(fd, $0, strlen($0)) }
            var output: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            if let payload {
                let count = read(fd, &buffer, buffer.count)
                if count > 0 { output += buffer[0..<count] }
                _ = payload.withCString { write(fd, $0, strlen($0)) }
            }
            shutdown(fd, Int32(SHUT_WR))
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                output += buffer[0..<count]
            }
            return String(decoding: output, as: UTF8.self)
        }.value
    }

    /// A tunnel left open (and idle).
    func openTunnel() throws -> Int32 {
        let fd = try connectUnix()
        let request = "CONNECT 127.0.0.1:\(port) HTTP/1.1\r\n\r\n"
        _ = request.withCString { write(fd, $0, strlen($0)) }
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = read(fd, &buffer, buffer.count)
        return fd
    }

    func waitForClosed(_ count: Int) async throws {
        for _ in 0..<800 where observer.closed.withLockedValue({ $0.count }) < count {
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    private func connectUnix() throws -> Int32 {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in socket.utf8.enumerated() { raw[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else { throw EgressProxyError("connect \(socket): \(errno)") }
        return fd
    }
}

/// An echo server: answers `echo: ` and what it got, then closes, when the client half-closes or
/// what it got ends in `abc` (the plain-HTTP test's body: a complete request).
private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received.writeBuffer(&buffer)
        if String(buffer: received).hasSuffix("abc") { answer(context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else { return }
        answer(context)
    }

    private func answer(_ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "echo: " + String(buffer: received))), promise: nil)
        context.close(promise: nil)
    }
}

func withFixture(
    allow: [String], maxConnections: Int = 8, idle: TimeAmount = .seconds(10), _ body: (Fixture) async throws -> Void
) async throws {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelOption(.allowRemoteHalfClosure, value: true)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let port = server.localAddress!.port!
    let observer = RecordingObserver()
    let proxy = EgressProxy(
        configuration: .init(
            maxConnections: maxConnections, idleTimeout: idle,
            names: EgressNameMap(["allowed.test": [IPAddress("127.0.0.1")!]])),
        observer: observer)
    let directory = NSTemporaryDirectory() + "egress-test-\(UUID().uuidString.prefix(8))"
    let list = try EgressAllowList.parse(allow.map { $0.replacingOccurrences(of: "{port}", with: String(port)) }).get()
    try await proxy.open(sessionID: "s1", profile: "test", allow: list, uid: getuid(), directory: directory)
    do {
        try await body(Fixture(proxy: proxy, observer: observer, socket: directory + "/proxy.sock", port: port))
    } catch {
        await proxy.close(sessionID: "s1")
        try? await server.close()
        throw error
    }
    await proxy.close(sessionID: "s1")
    #expect(!FileManager.default.fileExists(atPath: directory), "the session's directory goes with it")
    await proxy.shutdown()
    try await server.close()
}
