import NIOCore

/// A bidirectional connection to a container's or exec's stdio, taken over from HTTP after the
/// engine's `101 UPGRADED` answer (`Upgrade: tcp`).
///
/// With a TTY the output is the terminal's raw bytes; without one it is multiplexed (see
/// ``StreamDemultiplexer`` and `demultiplexed()`). Use it once, through ``executeThenClose(_:)``.
public struct HijackedStream: Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    /// Whether the other end is a TTY (raw output) or not (multiplexed output).
    public let tty: Bool

    /// A stream over an already connected channel: the engine client makes one from the upgraded
    /// HTTP connection; an in-memory engine from one end of a socket pair.
    public init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, tty: Bool) {
        self.channel = channel
        self.tty = tty
    }

    /// Runs `body` with the stream's output and input; closes the connection when it returns.
    ///
    /// Keep reading `output`: the engine stops the container's output when nobody reads it.
    public func executeThenClose<Result: Sendable>(
        _ body: (_ output: NIOAsyncChannelInboundStream<ByteBuffer>, _ input: HijackedInput) async throws -> Result
    ) async throws -> Result {
        try await channel.executeThenClose { inbound, outbound in
            try await body(inbound, HijackedInput(writer: outbound, channel: channel.channel))
        }
    }

    /// Closes the connection without using it. (Through ``executeThenClose(_:)``, which also
    /// finishes the outbound writer: NIO traps when a writer is released unfinished.)
    public func close() async {
        _ = try? await channel.executeThenClose { _, _ in }
    }
}

/// The writing half of a ``HijackedStream``.
public struct HijackedInput: Sendable {
    let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: any Channel

    /// Sends bytes to the process's stdin (the terminal's input with a TTY).
    public func write(_ bytes: ByteBuffer) async throws {
        try await writer.write(bytes)
    }

    public func write(_ bytes: some Sequence<UInt8>) async throws {
        try await writer.write(ByteBuffer(bytes: bytes))
    }

    public func write(_ text: String) async throws {
        try await writer.write(ByteBuffer(string: text))
    }

    /// Half-closes the connection: the process sees end-of-file on stdin while its output keeps
    /// flowing.
    public func closeWrite() {
        writer.finish()
    }
}

extension HijackedStream {
    /// Sends `bytes` to the process's stdin before the stream is used with
    /// ``executeThenClose(_:)`` (which may then happen on another task): the warm pool writes the
    /// claim message to a gate it attached to long before, then hands the stream to the terminal
    /// relay. Writes go through the channel itself, in order, ahead of anything written later.
    public func send(_ bytes: ByteBuffer) async throws {
        try await channel.channel.writeAndFlush(bytes)
    }
}
