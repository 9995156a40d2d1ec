import NIOCore

/// Which of a container's streams a frame belongs to.
public enum StreamKind: UInt8, Sendable, Equatable {
    case stdin = 0
    case stdout = 1
    case stderr = 2
}

/// One frame of a multiplexed (non-TTY) attach, exec or logs stream.
public struct StreamFrame: Sendable, Equatable {
    public var stream: StreamKind
    public var payload: ByteBuffer

    public init(stream: StreamKind, payload: ByteBuffer) {
        self.stream = stream
        self.payload = payload
    }
}

/// Splits the engine's multiplexed stream into frames.
///
/// Without a TTY the engine prefixes each write with an 8-byte header: the stream (0 stdin,
/// 1 stdout, 2 stderr), three zero bytes and the payload length as a big-endian UInt32. Frames may
/// be split across reads or several may share one; feed chunks as they come.
public struct StreamDemultiplexer: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case invalidHeader([UInt8])
        case frameTooLarge(Int)
        case truncated(bufferedBytes: Int)

        public var description: String {
            switch self {
            case .invalidHeader(let bytes):
                return "invalid multiplexed stream header \(bytes.map { String($0, radix: 16) }); is the container running with a TTY?"
            case .frameTooLarge(let size):
                return "multiplexed stream frame of \(size) bytes exceeds the limit"
            case .truncated(let count):
                return "the stream ended inside a frame (\(count) bytes left over)"
            }
        }
    }

    private var buffer = ByteBuffer()
    private let maximumFrameBytes: Int

    public init(maximumFrameBytes: Int = 16 << 20) {
        self.maximumFrameBytes = maximumFrameBytes
    }

    /// Appends a chunk and returns every frame it completes.
    public mutating func feed(_ chunk: ByteBuffer) throws(Failure) -> [StreamFrame] {
        var chunk = chunk
        buffer.writeBuffer(&chunk)
        var frames: [StreamFrame] = []
        while buffer.readableBytes >= 8 {
            guard let header = buffer.getBytes(at: buffer.readerIndex, length: 8) else { break }
            guard let stream = StreamKind(rawValue: header[0]), header[1] == 0, header[2] == 0, header[3] == 0 else {
                throw .invalidHeader(header)
            }
            let size = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
            guard size <= maximumFrameBytes else { throw .frameTooLarge(size) }
            guard buffer.readableBytes >= 8 + size else { break }
            buffer.moveReaderIndex(forwardBy: 8)
            guard let payload = buffer.readSlice(length: size) else { break }
            frames.append(StreamFrame(stream: stream, payload: payload))
        }
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 64 * 1024 {
            buffer.discardReadBytes()
        }
        return frames
    }

    /// Call at the end of the stream: fails when a frame was cut short.
    public func finish() throws(Failure) {
        if buffer.readableBytes > 0 { throw .truncated(bufferedBytes: buffer.readableBytes) }
    }

    /// Encodes one frame; the inverse of `feed`, for tests and stub engines.
    public static func encode(_ stream: StreamKind, _ payload: some Collection<UInt8>) -> ByteBuffer {
        var out = ByteBuffer()
        let size = UInt32(payload.count)
        out.writeBytes([stream.rawValue, 0, 0, 0])
        out.writeInteger(size, endianness: .big)
        out.writeBytes(payload)
        return out
    }
}

/// The frames of a multiplexed byte stream, in order.
public struct DemultiplexedFrames<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    public typealias Element = StreamFrame
    let base: Base

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var demultiplexer = StreamDemultiplexer()
        var pending: [StreamFrame] = []
        var pendingIndex = 0

        public mutating func next() async throws -> StreamFrame? {
            while true {
                if pendingIndex < pending.count {
                    defer { pendingIndex += 1 }
                    return pending[pendingIndex]
                }
                guard let chunk = try await base.next() else {
                    try demultiplexer.finish()
                    return nil
                }
                pending = try demultiplexer.feed(chunk)
                pendingIndex = 0
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }
}

extension AsyncSequence where Self: Sendable, Element == ByteBuffer {
    /// Reads the engine's multiplexed stream format (non-TTY containers and execs) as frames.
    public func demultiplexed() -> DemultiplexedFrames<Self> {
        DemultiplexedFrames(base: self)
    }
}
