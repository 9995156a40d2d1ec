import NIOCore

/// The last bytes a terminal produced, addressed by absolute offset.
///
/// Offsets count every byte ever appended to the ring (in this relay's life): the first byte is
/// offset 0, and ``endOffset`` is the offset the next byte will get. The ring keeps the most recent
/// ``capacity`` bytes, from ``startOffset`` to ``endOffset``; older ones are forgotten.
///
/// Storage grows on demand (doubling, from ``minimumAllocation``) up to ``capacity`` and never
/// shrinks: an idle terminal that printed a prompt holds a few KiB, not the whole capacity.
///
/// A value type with no locking of its own; ``SessionTerminal`` keeps it inside its mutex.
public struct ScrollbackRing: Sendable {
    /// The smallest allocation made on the first append.
    public static let minimumAllocation = 4096

    /// The most bytes the ring holds.
    public let capacity: Int
    /// The allocated storage: `storage.count` is what the ring has grown to. While the ring is
    /// not full the held bytes may wrap around inside it.
    private var storage: [UInt8] = []
    /// Index in `storage` of the oldest held byte.
    private var head = 0
    /// How many bytes the ring holds.
    public private(set) var count = 0
    /// The offset the next appended byte will get: the number of bytes ever appended.
    public private(set) var endOffset: UInt64

    /// - Parameters:
    ///   - capacity: the most bytes kept; at least 1 (smaller values are raised to 1).
    ///   - startOffset: the offset of the first byte to be appended.
    public init(capacity: Int, startOffset: UInt64 = 0) {
        self.capacity = max(1, capacity)
        self.endOffset = startOffset
    }

    /// The offset of the oldest byte held (``endOffset`` when the ring is empty).
    public var startOffset: UInt64 { endOffset - UInt64(count) }

    /// The bytes of storage allocated so far (at most ``capacity``).
    public var allocatedBytes: Int { storage.count }

    // MARK: - Appending

    /// Appends `bytes`, forgetting the oldest bytes beyond ``capacity``.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let length = bytes.count
        guard length > 0 else { return }
        endOffset += UInt64(length)
        if length >= capacity {
            // Only the last `capacity` bytes survive: store them linearly from index 0.
            if storage.count < capacity { storage = [UInt8](repeating: 0, count: capacity) }
            storage.withUnsafeMutableBytes { target in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(length - capacity)...]))
            }
            head = 0
            count = capacity
            return
        }
        let needed = count + length
        if needed > storage.count, storage.count < capacity {
            grow(to: min(capacity, max(needed, storage.count * 2, Self.minimumAllocation)))
        }
        let size = storage.count
        if needed > size {
            let dropped = needed - size
            head = (head + dropped) % size
            count -= dropped
        }
        let tail = (head + count) % size
        let firstPart = min(length, size - tail)
        storage.withUnsafeMutableBytes { target in
            UnsafeMutableRawBufferPointer(rebasing: target[tail..<(tail + firstPart)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<firstPart]))
            if firstPart < length {
                UnsafeMutableRawBufferPointer(rebasing: target[..<(length - firstPart)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[firstPart...]))
            }
        }
        count += length
    }

    /// Appends the readable bytes of `buffer` (without consuming them).
    public mutating func append(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { append($0) }
    }

    /// Appends `bytes`.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Reallocates to `size` bytes with the held bytes moved to the front.
    private mutating func grow(to size: Int) {
        var grown = [UInt8](repeating: 0, count: size)
        let oldSize = storage.count
        if count > 0 {
            let firstPart = min(count, oldSize - head)
            grown.withUnsafeMutableBytes { target in
                storage.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: target[..<firstPart])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[head..<(head + firstPart)]))
                    if firstPart < count {
                        UnsafeMutableRawBufferPointer(rebasing: target[firstPart..<count])
                            .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[..<(count - firstPart)]))
                    }
                }
            }
        }
        storage = grown
        head = 0
    }

    // MARK: - Replaying

    /// Where a viewer that asks for the bytes from `since` on starts.
    public struct Replay: Sendable, Equatable {
        /// The offset of the first byte the viewer gets.
        public var start: UInt64
        /// True when the viewer asked for bytes older than the ring holds: it gets
        /// `reset(offset: start)` before the replay.
        public var isReset: Bool
        /// How many bytes are replayed (from `start` to the end).
        public var count: Int

        public init(start: UInt64, isReset: Bool, count: Int) {
            self.start = start
            self.isReset = isReset
            self.count = count
        }
    }

    /// Plans the replay for a viewer asking for the bytes from `since` on.
    ///
    /// - `nil`: everything the ring holds, without a reset.
    /// - an offset the ring holds (``startOffset`` through ``endOffset``): exactly the bytes from
    ///   there on.
    /// - an offset older than ``startOffset``: a reset to ``startOffset`` and everything held.
    /// - an offset beyond ``endOffset`` (a client of an earlier relay life, or a confused one):
    ///   clamped to ``endOffset``, without a reset; nothing is replayed. The viewer's hello
    ///   carries ``endOffset``, lower than what it asked for, which is how a client notices.
    public func replay(since: UInt64?) -> Replay {
        guard let since else {
            return Replay(start: startOffset, isReset: false, count: count)
        }
        if since < startOffset {
            return Replay(start: startOffset, isReset: true, count: count)
        }
        let start = min(since, endOffset)
        return Replay(start: start, isReset: false, count: Int(endOffset - start))
    }

    /// Calls `body` with the held bytes from `offset` (clamped to what the ring holds) to the end,
    /// in order, in at most two contiguous parts, without copying them.
    public func withBytes(from offset: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) {
        let start = min(max(offset, startOffset), endOffset)
        let skip = Int(start - startOffset)
        let length = count - skip
        guard length > 0 else { return }
        let size = storage.count
        let first = (head + skip) % size
        let firstPart = min(length, size - first)
        storage.withUnsafeBytes { source in
            body(UnsafeRawBufferPointer(rebasing: source[first..<(first + firstPart)]))
            if firstPart < length { body(UnsafeRawBufferPointer(rebasing: source[..<(length - firstPart)])) }
        }
    }

    /// A copy of the held bytes from `offset` (clamped to what the ring holds) to the end.
    public func bytes(from offset: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Int(endOffset - min(max(offset, startOffset), endOffset)))
        withBytes(from: offset) { buffer.writeBytes($0) }
        return buffer
    }
}
