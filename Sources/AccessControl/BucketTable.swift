/// The buckets of a `TokenBucketLimiter`: at most `maxKeys` of them, in a slot array with a free
/// list, a key index, and an intrusive doubly-linked list in order of last use (head = least
/// recently used). Not thread-safe: the limiter keeps it in a `Mutex`.
///
/// Times are seconds of the limiter's monotonic clock, as `Double`s.
struct BucketTable {
    private struct Slot {
        var key: String
        /// Tokens at `updated`.
        var tokens: Double
        var updated: Double
        var previous: Int
        var next: Int
    }

    /// Tolerance for accumulated floating-point error in token counts: a bucket that is short by
    /// less than this counts as holding the tokens.
    static let epsilon = 1e-9
    private static let none = -1

    let capacity: Double
    let refillPerSecond: Double
    let maxKeys: Int

    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var index: [String: Int] = [:]
    private var head = none
    private var tail = none
    /// No bucket can be full before this time, so sweeping for full buckets earlier finds none.
    /// A lower bound: it may be earlier than the truth (a bucket used since), never later.
    private var nextPossibleFull = Double.infinity

    init(capacity: Double, refillPerSecond: Double, maxKeys: Int) {
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        self.maxKeys = maxKeys
    }

    var count: Int { index.count }

    func contains(_ key: String) -> Bool { index[key] != nil }

    /// Takes `cost` tokens from `key`'s bucket at `now` if it holds them. Returns the tokens left
    /// after an allowed take, or the seconds until `cost` tokens will be there.
    mutating func take(_ key: String, cost: Double, now: Double) -> TokenBucketLimiter.Decision {
        let slot: Int
        if let existing = index[key] {
            slot = existing
            refill(slot, now: now)
            unlink(slot)
        } else {
            if index.count >= maxKeys { makeRoom(now: now) }
            slot = allocate(key, now: now)
        }
        append(slot)
        let tokens = slots[slot].tokens
        guard tokens + Self.epsilon >= cost else {
            let wait = ((cost - tokens) / refillPerSecond).rounded(.up)
            return .limited(retryAfter: max(1, Int(min(wait, Double(Int32.max)))))
        }
        slots[slot].tokens = max(0, tokens - cost)
        nextPossibleFull = min(nextPossibleFull, fullAt(slot))
        return .allowed(remaining: Int((slots[slot].tokens + Self.epsilon).rounded(.down)))
    }

    /// Puts `cost` tokens back into `key`'s bucket (up to capacity), if it still has one.
    mutating func refund(_ key: String, cost: Double, now: Double) {
        guard let slot = index[key] else { return }
        refill(slot, now: now)
        slots[slot].tokens = min(capacity, slots[slot].tokens + cost)
        nextPossibleFull = min(nextPossibleFull, fullAt(slot))
    }

    /// Frees at least one slot. First every bucket that has refilled to capacity goes: dropping
    /// one loses nothing, since a new bucket starts full. Only if none is full does the least
    /// recently used bucket go (its holder gets a fresh bucket next time).
    ///
    /// The sweep is O(buckets), so it runs only when some bucket may have become full since the
    /// last sweep (`nextPossibleFull`); a flood of new keys while every bucket is in use costs
    /// O(1) per key.
    private mutating func makeRoom(now: Double) {
        if now >= nextPossibleFull {
            var earliest = Double.infinity
            var slot = head
            while slot != Self.none {
                let following = slots[slot].next
                refill(slot, now: now)
                if slots[slot].tokens + Self.epsilon >= capacity {
                    remove(slot)
                } else {
                    earliest = min(earliest, fullAt(slot))
                }
                slot = following
            }
            nextPossibleFull = earliest
        }
        if index.count >= maxKeys, head != Self.none {
            remove(head)
        }
    }

    /// When the bucket in `slot` will be full if left alone.
    private func fullAt(_ slot: Int) -> Double {
        slots[slot].updated + (capacity - slots[slot].tokens) / refillPerSecond
    }

    private mutating func refill(_ slot: Int, now: Double) {
        let elapsed = now - slots[slot].updated
        // A time before the last update (only possible through an explicit `now`) refills nothing
        // and does not move the bucket back.
        guard elapsed > 0 else { return }
        slots[slot].tokens = min(capacity, slots[slot].tokens + elapsed * refillPerSecond)
        slots[slot].updated = now
    }

    private mutating func allocate(_ key: String, now: Double) -> Int {
        let fresh = Slot(key: key, tokens: capacity, updated: now, previous: Self.none, next: Self.none)
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = fresh
        } else {
            slot = slots.count
            slots.append(fresh)
        }
        index[key] = slot
        return slot
    }

    private mutating func remove(_ slot: Int) {
        unlink(slot)
        index[slots[slot].key] = nil
        slots[slot].key = ""
        freeSlots.append(slot)
    }

    /// Appends `slot` at the most recently used end.
    private mutating func append(_ slot: Int) {
        slots[slot].previous = tail
        slots[slot].next = Self.none
        if tail != Self.none { slots[tail].next = slot } else { head = slot }
        tail = slot
    }

    private mutating func unlink(_ slot: Int) {
        let previous = slots[slot].previous
        let next = slots[slot].next
        if previous != Self.none { slots[previous].next = next } else { head = next }
        if next != Self.none { slots[next].previous = previous } else { tail = previous }
        slots[slot].previous = Self.none
        slots[slot].next = Self.none
    }
}
