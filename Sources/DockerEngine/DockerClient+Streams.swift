import Foundation
import NIOCore

extension DockerClient {
    /// Maps to `GET /events?filters=&since=&until=`: the engine's events, as they happen.
    ///
    /// The stream has no end of its own unless `until` is given; cancel the reading task or drop
    /// the iterator to stop it. When the engine goes away the stream ends with an error.
    public func events(filters: DockerFilters = .init(), since: Date? = nil, until: Date? = nil) async throws
        -> DockerEventStream
    {
        let format = { (date: Date) in String(format: "%.9f", date.timeIntervalSince1970) }
        let path = self.path(
            "/events",
            [
                ("filters", filters.values.isEmpty ? nil : filters.json), ("since", since.map(format)),
                ("until", until.map(format)),
            ])
        let (_, body) = try await observe(method: "GET", path: path) {
            try await transport.stream(.init(method: "GET", path: path, timeout: nil), headTimeout: configuration.requestTimeout)
        }
        return DockerEventStream(lines: DockerByteStream(base: body).lines(), path: path)
    }

    /// Options of ``logs(_:tty:options:)``.
    public struct LogsOptions: Sendable {
        public var follow: Bool
        public var stdout: Bool
        public var stderr: Bool
        public var timestamps: Bool
        /// Only lines after this time.
        public var since: Date?
        /// Only the last N lines; nil for all.
        public var tail: Int?

        public init(
            follow: Bool = false, stdout: Bool = true, stderr: Bool = true, timestamps: Bool = false,
            since: Date? = nil, tail: Int? = nil
        ) {
            self.follow = follow
            self.stdout = stdout
            self.stderr = stderr
            self.timestamps = timestamps
            self.since = since
            self.tail = tail
        }
    }

    /// Maps to `GET /containers/{id}/logs`. With `follow` the stream lasts as long as the container
    /// runs. Without a TTY the engine multiplexes stdout and stderr; the frames say which is which.
    ///
    /// - Parameter tty: whether the container has a TTY; nil to ask the engine first.
    public func logs(_ id: String, tty: Bool? = nil, options: LogsOptions = .init()) async throws -> ContainerLogStream {
        let segment = try Self.segment(id, method: "GET", what: "container")
        let hasTTY: Bool
        if let tty {
            hasTTY = tty
        } else {
            hasTTY = try await inspectContainer(id).config?.tty ?? false
        }
        let flag = { (value: Bool) in value ? "1" : "0" }
        let path = self.path(
            "/containers/\(segment)/logs",
            [
                ("follow", flag(options.follow)), ("stdout", flag(options.stdout)), ("stderr", flag(options.stderr)),
                ("timestamps", flag(options.timestamps)),
                ("since", options.since.map { String(format: "%.9f", $0.timeIntervalSince1970) }),
                ("tail", options.tail.map(String.init)),
            ])
        let (_, body) = try await observe(method: "GET", path: path) {
            try await transport.stream(
                .init(method: "GET", path: path, timeout: options.follow ? nil : configuration.requestTimeout),
                headTimeout: configuration.requestTimeout)
        }
        return ContainerLogStream(bytes: DockerByteStream(base: body), tty: hasTTY)
    }
}

/// The engine's events, decoded one JSON object per line.
public struct DockerEventStream: AsyncSequence, Sendable {
    public typealias Element = DockerEvent
    let lines: LineSequence<DockerByteStream>
    let path: String

    public struct AsyncIterator: AsyncIteratorProtocol {
        var lines: LineSequence<DockerByteStream>.AsyncIterator
        let path: String

        public mutating func next() async throws -> DockerEvent? {
            while let line = try await lines.next() {
                if line.readableBytes == 0 { continue }
                do {
                    return try DockerEvent(json: line.readableBytesView)
                } catch {
                    throw DockerError(
                        code: .undecodableBody, method: "GET", path: path,
                        detail: "an event does not decode: \(error)", body: DockerError.excerpt(Array(line.readableBytesView)))
                }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(lines: lines.makeAsyncIterator(), path: path)
    }
}

/// A container's log output as frames: raw stdout chunks for a TTY, demultiplexed frames otherwise.
public struct ContainerLogStream: AsyncSequence, Sendable {
    public typealias Element = StreamFrame
    let bytes: DockerByteStream
    let tty: Bool

    public struct AsyncIterator: AsyncIteratorProtocol {
        var raw: DockerByteStream.AsyncIterator?
        var frames: DemultiplexedFrames<DockerByteStream>.AsyncIterator?

        public mutating func next() async throws -> StreamFrame? {
            if raw != nil {
                return try await raw?.next().map { StreamFrame(stream: .stdout, payload: $0) }
            }
            return try await frames?.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        tty
            ? AsyncIterator(raw: bytes.makeAsyncIterator(), frames: nil)
            : AsyncIterator(raw: nil, frames: bytes.demultiplexed().makeAsyncIterator())
    }
}
