import Dispatch
import Foundation
import NIOCore
import Synchronization

/// Runs `body` on a thread of its own (not the cooperative pool, and not a thread-pool thread a
/// slow client could hold): for archive streams, which block on the file system and on the peer.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        startArchiveThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Starts `body` on a new thread named `sandcastle-arch`. The thread names itself: Foundation on
/// Linux gives the kernel a name set before `start()` to no thread, and an unnamed thread shows its
/// creator's name (the event loop's) in `top -H`. At most 15 bytes: the kernel's limit.
func startArchiveThread(_ body: @escaping @Sendable () -> Void) {
    Thread {
        Thread.current.name = "sandcastle-arch"
        body()
    }.start()
}

/// At most `limit` archive streams at once, each on a thread of its own: a client cannot pile
/// up threads by opening many slow downloads or uploads.
final class ThreadSlots: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a slot, or throws 429 with `Retry-After` when all are in use.
    func take() throws {
        guard used.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            used.wrappingSubtract(1, ordering: .relaxed)
            var error = APIError(
                .tooManyRequests, "busy", "\(limit) archive downloads and uploads are running; retry when one has finished")
            error.headers[.retryAfter] = "1"
            throw error
        }
    }

    func release() { used.wrappingSubtract(1, ordering: .relaxed) }
}

/// Bytes from a blocking producer thread to an async consumer, at most `depth` chunks ahead: the
/// producer waits on a semaphore the consumer signals per chunk taken. Chunks are gathered to
/// `chunkBytes` so the consumer hops once per chunk, not per libarchive block.
final class ProducedBytes: Sendable {
    let stream: AsyncThrowingStream<ByteBuffer, any Error>
    private let continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    private let room: DispatchSemaphore
    private let cancelled = Atomic<Bool>(false)
    /// Touched only by the producer thread.
    private let pending = Mutex(ByteBuffer())
    let chunkBytes: Int

    init(depth: Int = 4, chunkBytes: Int = 256 << 10) {
        (stream, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
        room = DispatchSemaphore(value: depth)
        self.chunkBytes = chunkBytes
        // Weak: the stream holds the continuation, which holds this closure.
        continuation.onTermination = { [weak self] _ in self?.cancel() }
    }

    /// Producer side: false once the consumer has gone.
    func emit(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !cancelled.load(ordering: .relaxed) else { return false }
        let full = pending.withLock { buffer -> ByteBuffer? in
            if buffer.capacity == 0 { buffer.reserveCapacity(chunkBytes + bytes.count) }
            buffer.writeBytes(bytes)
            guard buffer.readableBytes >= chunkBytes else { return nil }
            defer { buffer = ByteBuffer() }
            return buffer
        }
        if let full { return send(full) }
        return true
    }

    private func send(_ buffer: ByteBuffer) -> Bool {
        room.wait()
        guard !cancelled.load(ordering: .relaxed) else {
            room.signal()
            return false
        }
        continuation.yield(buffer)
        return true
    }

    /// Producer side: flushes and ends the stream (with `error`, if any).
    func finish(_ error: (any Error)?) {
        let rest = pending.withLock { buffer in
            defer { buffer = ByteBuffer() }
            return buffer
        }
        if error == nil, rest.readableBytes > 0 { _ = send(rest) }
        continuation.finish(throwing: error)
    }

    /// Consumer side: one chunk taken, room for another.
    func taken() { room.signal() }

    /// Consumer side: no more chunks are wanted (the client went away); a producer waiting for
    /// room wakes and stops.
    func cancel() {
        cancelled.store(true, ordering: .relaxed)
        room.signal()
    }
}

/// Bytes from an async producer (a request body) to a blocking consumer thread: the producer
/// waits when `depth` chunks are queued; the consumer blocks until a chunk, the end or a failure.
final class ConsumedBytes: Sendable {
    private struct State {
        var chunks: [[UInt8]] = []
        var ended = false
        var failure: (any Error)?
        /// The consumer stopped reading (it finished or failed): pushes are dropped.
        var closed = false
        var waitingProducer: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let condition = NSCondition()
    let depth: Int

    init(depth: Int = 8) { self.depth = depth }

    /// Producer side: false once the consumer has stopped reading.
    func push(_ buffer: ByteBuffer) async -> Bool {
        let chunk = Array(buffer.readableBytesView)
        while true {
            let outcome: Bool? = state.withLock { state in
                if state.closed { return false }
                if state.chunks.count < depth {
                    state.chunks.append(chunk)
                    return true
                }
                return nil
            }
            if let outcome {
                signal()
                return outcome
            }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.closed || state.chunks.count < depth { return true }
                    state.waitingProducer = waiter
                    return false
                }
                if resumeNow { waiter.resume() }
            }
        }
    }

    /// Producer side: the body ended, or failed with `error`.
    func end(_ error: (any Error)? = nil) {
        state.withLock { state in
            state.ended = true
            state.failure = error
        }
        signal()
    }

    /// Consumer side: the next chunk, nil at the end; throws the producer's failure. Blocks.
    func pop() throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let (chunk, ended, failure, waiter): ([UInt8]?, Bool, (any Error)?, CheckedContinuation<Void, Never>?) =
                state.withLock { state in
                    let chunk = state.chunks.isEmpty ? nil : state.chunks.removeFirst()
                    let waiter = chunk == nil ? nil : state.waitingProducer
                    if chunk != nil { state.waitingProducer = nil }
                    return (chunk, state.ended, state.failure, waiter)
                }
            waiter?.resume()
            if let chunk { return chunk }
            if let failure { throw failure }
            if ended { return nil }
            condition.wait()
        }
    }

    /// Consumer side: reading stopped; a waiting producer is released.
    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waitingProducer = nil }
            return state.waitingProducer
        }
        waiter?.resume()
    }

    private func signal() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }
}
