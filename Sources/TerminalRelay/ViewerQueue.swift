import NIOCore

/// One viewer's pending events, bounded in bytes.
///
/// Only *live* output counts against ``limit``: the replay a viewer asked for when it attached is
/// at most the ring's size and is queued whole, otherwise a reconnecting viewer asking for more
/// than the limit would be closed at once. A live chunk that would take the counted bytes beyond
/// the limit overflows the queue (the caller drops the backlog for a repaint, or closes the viewer); a chunk larger than the limit
/// is still accepted into an empty queue, so a small limit never starves a viewer that keeps up.
///
/// A value type with no locking of its own; ``SessionTerminal`` keeps it inside its mutex.
struct ViewerQueue {
    private struct Entry {
        var event: TerminalEvent
        /// The bytes this entry counts against the limit (live output only).
        var counted: Int
    }

    /// The most live output bytes queued.
    let limit: Int
    private var entries = CircularBuffer<Entry>(initialCapacity: 4)
    /// Live output bytes queued.
    private(set) var countedBytes = 0
    /// Whether the last event (exit or closed) is queued: nothing is added after it.
    private(set) var isClosed = false

    init(limit: Int) {
        self.limit = limit
    }

    var isEmpty: Bool { entries.isEmpty }

    /// Queues an event that does not count against the limit (hello, reset, replayed output).
    mutating func enqueue(_ event: TerminalEvent) {
        guard !isClosed else { return }
        entries.append(Entry(event: event, counted: 0))
    }

    /// Queues live output; false when it would overflow (nothing is queued then).
    mutating func enqueueLive(_ bytes: ByteBuffer, offset: UInt64) -> Bool {
        guard !isClosed else { return true }
        let length = bytes.readableBytes
        if countedBytes > 0, countedBytes + length > limit { return false }
        entries.append(Entry(event: .output(bytes, offset: offset), counted: length))
        countedBytes += length
        return true
    }

    /// Drops the queued output (a viewer that will get a repaint instead); a hello or reset not yet
    /// taken stays.
    mutating func dropOutput() {
        entries.removeAll { entry in
            if case .output = entry.event { return true }
            return false
        }
        countedBytes = 0
    }

    /// Queues the last event. With `dropPending`, the queued output goes first (an overflowing
    /// viewer is not fed what it could not take); a hello or reset not yet taken stays.
    mutating func close(with event: TerminalEvent, dropPending: Bool) {
        guard !isClosed else { return }
        if dropPending { dropOutput() }
        entries.append(Entry(event: event, counted: 0))
        isClosed = true
    }

    /// The next event. Contiguous output chunks queued one after another are joined into one
    /// event of at most `maximumBytes` (a viewer that fell behind gets fewer, larger frames).
    mutating func dequeue(maximumBytes: Int) -> TerminalEvent? {
        guard let first = entries.popFirst() else { return nil }
        countedBytes -= first.counted
        guard case .output(var joined, let offset) = first.event else { return first.event }
        while let next = entries.first, case .output(var more, let nextOffset) = next.event,
            nextOffset == offset + UInt64(joined.readableBytes),
            joined.readableBytes + more.readableBytes <= maximumBytes
        {
            entries.removeFirst()
            countedBytes -= next.counted
            joined.writeBuffer(&more)
        }
        return .output(joined, offset: offset)
    }
}
