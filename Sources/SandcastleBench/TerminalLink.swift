import DockerEngine
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import Synchronization

/// A terminal the benchmark types into and reads from: the daemon's WebSocket or a raw attach.
/// The same measurements (``TerminalMeasurements``) run over both.
///
/// Used by one task at a time (the one that opened it), never shared.
public protocol TerminalLink {
    /// Sends bytes to the terminal's input.
    mutating func write(_ bytes: ByteBuffer) async throws
    /// The next chunk of terminal output; nil when the terminal has ended.
    mutating func read() async throws -> ByteBuffer?
}

/// A viewer on the daemon's terminal WebSocket (`sandcastle.tty.v1`).
public struct WebSocketTerminal: TerminalLink {
    var frames: WebSocketInboundStream.AsyncIterator
    let outbound: WebSocketOutboundWriter
    /// The text frames seen (control messages: hello, reset, exit), in order.
    public private(set) var controls: [String] = []

    public mutating func write(_ bytes: ByteBuffer) async throws {
        try await outbound.write(.binary(bytes))
    }

    public mutating func read() async throws -> ByteBuffer? {
        while let frame = try await frames.next() {
            switch frame.opcode {
            case .binary, .continuation: return frame.data
            case .text: controls.append(String(buffer: frame.data))
            }
        }
        return nil
    }

    /// Waits for the first text frame, the server's `hello`, and returns it.
    public mutating func hello() async throws -> String {
        while controls.isEmpty {
            guard let frame = try await frames.next() else {
                throw BenchError.terminal("the WebSocket closed before its hello frame")
            }
            if frame.opcode == .text { controls.append(String(buffer: frame.data)) }
        }
        let hello = controls[0]
        guard hello.contains("\"hello\"") else { throw BenchError.terminal("the first control frame was not hello: \(hello)") }
        return hello
    }

    /// Connects a read-write viewer to `session`, runs `body` with it, and closes it.
    ///
    /// - Parameter replayBytes: ask for the bytes as written (`?replay=bytes`), which the sections
    ///   that count bytes need; false connects like a browser, with a repaint of the screen.
    public static func with<Result: Sendable>(
        host: String, port: Int, session: String, token: String, replayBytes: Bool = true,
        _ body: @escaping @Sendable (inout WebSocketTerminal) async throws -> Result
    ) async throws -> Result {
        let box = ResultBox<Result>()
        let headers: HTTPFields = [.secWebSocketProtocol: "sandcastle.tty.v1, bearer.\(token)"]
        try await WebSocketClient.connect(
            url: "ws://\(host):\(port)/v1/sessions/\(session)/tty" + (replayBytes ? "?replay=bytes" : ""),
            configuration: .init(maxFrameSize: 1 << 24, additionalHeaders: headers, autoPing: .disabled),
            logger: Logger(label: "sandcastle.bench.ws")
        ) { inbound, outbound, _ in
            var terminal = WebSocketTerminal(frames: inbound.makeAsyncIterator(), outbound: outbound)
            box.set(try await body(&terminal))
            try? await outbound.close(.normalClosure, reason: "done")
            // Drain until the server's close arrives, so the handler returns cleanly.
            while (try? await terminal.frames.next()) != nil {}
        }
        guard let result = box.get() else {
            throw BenchError.terminal("the WebSocket to session \(session) ended before the measurement (refused upgrade?)")
        }
        return result
    }
}

/// A raw hijacked attach to a container's TTY through the engine.
public struct RawTerminal: TerminalLink {
    var output: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let input: HijackedInput

    public mutating func write(_ bytes: ByteBuffer) async throws {
        try await input.write(bytes)
    }

    public mutating func read() async throws -> ByteBuffer? {
        try await output.next()
    }

    /// Runs `body` over an open attach stream; closes it afterwards.
    public static func with<Result: Sendable>(
        _ stream: HijackedStream, _ body: (inout RawTerminal) async throws -> Result
    ) async throws -> Result {
        try await stream.executeThenClose { output, input in
            var terminal = RawTerminal(output: output.makeAsyncIterator(), input: input)
            return try await body(&terminal)
        }
    }
}

/// Holds the value a WebSocket handler produced (the client library's handler returns nothing).
final class ResultBox<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    func get() -> Value? { value.withLock { $0 } }
}

/// The measurements that run the same way over any ``TerminalLink``.
public enum TerminalMeasurements {
    /// Reads until `marker` has appeared in the output.
    public static func waitFor(_ marker: String, on terminal: inout some TerminalLink) async throws {
        var seen = ""
        while !seen.contains(marker) {
            guard let chunk = try await terminal.read() else {
                throw BenchError.terminal("the terminal ended before printing \(marker.debugDescription); it printed \(seen.suffix(200).debugDescription)")
            }
            seen += String(buffer: chunk)
            if seen.count > 4096 { seen = String(seen.suffix(1024)) }
        }
    }

    /// Sends `trigger` and reads exactly `bytes` bytes of output; returns how long that took.
    public static func drain(_ bytes: Int, after trigger: String, on terminal: inout some TerminalLink) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await terminal.write(ByteBuffer(string: trigger))
        var received = 0
        while received < bytes {
            guard let chunk = try await terminal.read() else {
                throw BenchError.terminal(
                    "the terminal ended after \(received) of \(bytes) bytes: the session ended, or (WebSocket) the daemon "
                        + "closed this viewer for falling behind (1008, its queue overflowed: [relay] viewer_queue_bytes); "
                        + "a loaded machine can stall the bench's reader")
            }
            received += chunk.readableBytes
        }
        return clock.now - start
    }

    /// `samples` round trips of one byte through a terminal that echoes what it reads (raw mode,
    /// `cat`): each sends a byte and waits for the same byte to come back.
    public static func echo(samples: Int, on terminal: inout some TerminalLink) async throws -> [Duration] {
        let clock = ContinuousClock()
        var durations: [Duration] = []
        durations.reserveCapacity(samples)
        for index in 0..<samples {
            let byte = UInt8(ascii: "a") + UInt8(index % 26)
            let start = clock.now
            try await terminal.write(ByteBuffer(bytes: [byte]))
            var back = false
            while !back {
                guard let chunk = try await terminal.read() else {
                    throw BenchError.terminal("the terminal ended after \(index) echoes")
                }
                back = chunk.readableBytesView.contains(byte)
            }
            durations.append(clock.now - start)
        }
        return durations
    }
}
