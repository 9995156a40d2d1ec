import NIOCore

/// The body of a streaming engine response, chunk by chunk, with back-pressure: a reader that
/// stops reading pauses the transfer, and a reader that drops its iterator cancels it.
public struct DockerByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let base: ByteChunkSequence

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: ByteChunkSequence.AsyncIterator

        public mutating func next() async throws -> ByteBuffer? {
            try await base.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}

/// Splits a byte stream into lines (without their `\n`), for the engine's JSON-lines streams.
public struct LineSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer
    let base: Base
    let maximumLineBytes: Int

    public struct LineTooLong: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "a line of the engine's stream exceeds \(limit) bytes" }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let maximumLineBytes: Int
        var buffer = ByteBuffer()
        var finished = false

        public mutating func next() async throws -> ByteBuffer? {
            while true {
                if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    let length = newline - buffer.readerIndex
                    let line = buffer.readSlice(length: length)
                    buffer.moveReaderIndex(forwardBy: 1)
                    if buffer.readableBytes == 0 { buffer.clear() }
                    if let line { return line }
                }
                if finished {
                    guard buffer.readableBytes > 0 else { return nil }
                    defer { buffer.clear() }
                    return buffer.readSlice(length: buffer.readableBytes)
                }
                guard buffer.readableBytes <= maximumLineBytes else { throw LineTooLong(limit: maximumLineBytes) }
                if var chunk = try await base.next() {
                    buffer.writeBuffer(&chunk)
                } else {
                    finished = true
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), maximumLineBytes: maximumLineBytes)
    }
}

extension AsyncSequence where Self: Sendable, Element == ByteBuffer {
    public func lines(maximumLineBytes: Int = 1 << 20) -> LineSequence<Self> {
        LineSequence(base: self, maximumLineBytes: maximumLineBytes)
    }
}
