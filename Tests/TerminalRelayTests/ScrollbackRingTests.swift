import NIOCore
import Testing

@testable import TerminalRelay

@Suite("ScrollbackRing: offsets, wrap-around, replay")
struct ScrollbackRingTests {
    private func held(_ ring: ScrollbackRing, from offset: UInt64? = nil) -> String {
        String(buffer: ring.bytes(from: offset ?? ring.startOffset))
    }

    @Test func anEmptyRingHoldsNothingAndAllocatesNothing() {
        let ring = ScrollbackRing(capacity: 1 << 20)
        #expect(ring.startOffset == 0 && ring.endOffset == 0 && ring.count == 0)
        #expect(ring.allocatedBytes == 0)
        #expect(ring.bytes(from: 0).readableBytes == 0)
        #expect(ring.replay(since: nil) == .init(start: 0, isReset: false, count: 0))
        #expect(ring.replay(since: 0) == .init(start: 0, isReset: false, count: 0))
        #expect(ring.replay(since: 5) == .init(start: 0, isReset: false, count: 0))
    }

    @Test func smallWritesAreKeptWhole() {
        var ring = ScrollbackRing(capacity: 64)
        ring.append(Array("hello ".utf8))
        ring.append(ByteBuffer(string: "world"))
        #expect(ring.endOffset == 11 && ring.startOffset == 0)
        #expect(held(ring) == "hello world")
        #expect(held(ring, from: 6) == "world")
        #expect(held(ring, from: 11) == "")
    }

    @Test func wrapAroundKeepsTheNewestBytes() {
        var ring = ScrollbackRing(capacity: 8)
        ring.append(Array("abcde".utf8))
        ring.append(Array("fghij".utf8))
        #expect(ring.count == 8 && ring.startOffset == 2 && ring.endOffset == 10)
        #expect(held(ring) == "cdefghij")
        #expect(held(ring, from: 5) == "fghij")
        ring.append(Array("k".utf8))
        #expect(held(ring) == "defghijk")
        #expect(held(ring, from: 9) == "jk")
    }

    @Test func replayOfAHeldOffsetIsExact() {
        var ring = ScrollbackRing(capacity: 8)
        ring.append(Array("0123456789".utf8))
        #expect(ring.replay(since: 2) == .init(start: 2, isReset: false, count: 8))
        #expect(ring.replay(since: 7) == .init(start: 7, isReset: false, count: 3))
        #expect(ring.replay(since: 10) == .init(start: 10, isReset: false, count: 0))
        #expect(held(ring, from: 7) == "789")
    }

    @Test func replayOlderThanTheRingIsAReset() {
        var ring = ScrollbackRing(capacity: 8)
        ring.append(Array("0123456789".utf8))
        #expect(ring.replay(since: 0) == .init(start: 2, isReset: true, count: 8))
        #expect(ring.replay(since: 1) == .init(start: 2, isReset: true, count: 8))
        #expect(ring.replay(since: nil) == .init(start: 2, isReset: false, count: 8))
    }

    @Test func replayFromTheFutureIsClampedToTheEnd() {
        var ring = ScrollbackRing(capacity: 8)
        ring.append(Array("0123".utf8))
        #expect(ring.replay(since: 5000) == .init(start: 4, isReset: false, count: 0))
        #expect(held(ring, from: 5000) == "")
    }

    @Test func aWriteLargerThanTheRingKeepsItsTail() {
        var ring = ScrollbackRing(capacity: 16)
        ring.append(Array("abc".utf8))
        let huge = (0..<100).map { UInt8(ascii: "A") + UInt8($0 % 26) }
        ring.append(huge)
        #expect(ring.endOffset == 103 && ring.startOffset == 87 && ring.count == 16)
        #expect(Array(ring.bytes(from: 0).readableBytesView) == Array(huge.suffix(16)))
        #expect(ring.allocatedBytes == 16)
        // And the ring keeps working afterwards, wrapping from the front again.
        ring.append(Array("xyz".utf8))
        #expect(Array(ring.bytes(from: 0).readableBytesView) == Array(huge.suffix(13)) + Array("xyz".utf8))
    }

    @Test func aWriteOfExactlyTheCapacityReplacesEverything() {
        var ring = ScrollbackRing(capacity: 4)
        ring.append(Array("ab".utf8))
        ring.append(Array("wxyz".utf8))
        #expect(held(ring) == "wxyz" && ring.startOffset == 2)
    }

    @Test func storageGrowsOnDemandUpToTheCapacity() {
        var ring = ScrollbackRing(capacity: 10_000)
        ring.append(Array("$ ".utf8))
        #expect(ring.allocatedBytes == ScrollbackRing.minimumAllocation)
        ring.append([UInt8](repeating: 1, count: 5000))
        #expect(ring.allocatedBytes == 8192)
        ring.append([UInt8](repeating: 2, count: 5000))
        #expect(ring.allocatedBytes == 10_000)
        #expect(ring.count == 10_000 && ring.endOffset == 10_002)
        // Growth kept the bytes in order; only the prompt fell out.
        let bytes = Array(ring.bytes(from: 0).readableBytesView)
        #expect(bytes == [UInt8](repeating: 1, count: 5000) + [UInt8](repeating: 2, count: 5000))
    }

    @Test func growthAfterAWrapKeepsTheOrder() {
        // Capacity 6000: it grows 4096 -> 6000 while the held bytes wrap inside the 4096.
        var ring = ScrollbackRing(capacity: 6000)
        var reference: [UInt8] = []
        for round in 0..<40 {
            let chunk = [UInt8](repeating: UInt8(round), count: 300)
            ring.append(chunk)
            reference += chunk
            #expect(Array(ring.bytes(from: 0).readableBytesView) == Array(reference.suffix(6000)))
        }
    }

    @Test func aStartOffsetCarriesOn() {
        var ring = ScrollbackRing(capacity: 8, startOffset: 1000)
        #expect(ring.replay(since: 0) == .init(start: 1000, isReset: true, count: 0))
        ring.append(Array("abc".utf8))
        #expect(ring.startOffset == 1000 && ring.endOffset == 1003)
        #expect(held(ring, from: 1001) == "bc")
    }

    @Test func aCapacityBelowOneIsRaisedToOne() {
        var ring = ScrollbackRing(capacity: 0)
        ring.append(Array("abc".utf8))
        #expect(ring.capacity == 1 && held(ring) == "c" && ring.endOffset == 3)
    }

    /// Random chunk sizes against a plain array: every offset the ring holds replays exactly, every
    /// older one resets to the oldest held.
    @Test(arguments: [1, 7, 64, 1000, 4097])
    func randomWritesReplayExactlyFromEveryOffset(capacity: Int) {
        var generator = SplitMix64(seed: UInt64(capacity))
        var ring = ScrollbackRing(capacity: capacity)
        var reference: [UInt8] = []
        for _ in 0..<200 {
            let length = Int.random(in: 0...(capacity * 3 / 2 + 1), using: &generator)
            let chunk = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            ring.append(chunk)
            reference += chunk
            let end = UInt64(reference.count)
            let start = end - UInt64(min(reference.count, capacity))
            #expect(ring.endOffset == end && ring.startOffset == start)
            #expect(ring.allocatedBytes <= capacity)
            let probe = UInt64.random(in: 0...(end + 2), using: &generator)
            let replay = ring.replay(since: probe)
            #expect(replay.isReset == (probe < start))
            #expect(replay.start == min(max(probe, start), end))
            let bytes = Array(ring.bytes(from: replay.start).readableBytesView)
            #expect(bytes == Array(reference[Int(replay.start)...]))
            #expect(bytes.count == replay.count)
        }
    }
}

/// A small deterministic generator, so that random tests fail the same way twice.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
