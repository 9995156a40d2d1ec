import NIOCore
import Testing

@testable import TerminalRelay

@Suite("ViewerQueue, TerminalSize and TerminalSignal")
struct ViewerQueueTests {
    private func bytes(_ count: Int, _ value: UInt8 = 0x61) -> ByteBuffer {
        ByteBuffer(bytes: [UInt8](repeating: value, count: count))
    }

    /// Mutating calls cannot sit inside `#expect`.
    private func live(_ queue: inout ViewerQueue, _ bytes: ByteBuffer, offset: UInt64) -> Bool {
        queue.enqueueLive(bytes, offset: offset)
    }

    private func take(_ queue: inout ViewerQueue, _ maximumBytes: Int) -> TerminalEvent? {
        queue.dequeue(maximumBytes: maximumBytes)
    }

    @Test func replayDoesNotCountButLiveOutputDoes() {
        var queue = ViewerQueue(limit: 100)
        queue.enqueue(.hello(offset: 0))
        queue.enqueue(.output(bytes(1000), offset: 0))
        #expect(queue.countedBytes == 0)
        #expect(live(&queue, bytes(60), offset: 1000))
        #expect(live(&queue, bytes(40), offset: 1060))
        #expect(queue.countedBytes == 100)
        #expect(!live(&queue, bytes(1), offset: 1100))
        #expect(queue.countedBytes == 100)
    }

    @Test func aChunkLargerThanTheLimitFitsAnEmptyQueue() {
        var queue = ViewerQueue(limit: 10)
        #expect(live(&queue, bytes(500), offset: 0))
        #expect(!live(&queue, bytes(1), offset: 500))
        _ = queue.dequeue(maximumBytes: 1000)
        #expect(queue.countedBytes == 0)
        #expect(live(&queue, bytes(1), offset: 501))
    }

    @Test func contiguousOutputIsJoinedUpToTheMaximum() {
        var queue = ViewerQueue(limit: 1000)
        queue.enqueue(.hello(offset: 10))
        #expect(live(&queue, ByteBuffer(string: "ab"), offset: 10))
        #expect(live(&queue, ByteBuffer(string: "cd"), offset: 12))
        #expect(live(&queue, ByteBuffer(string: "ef"), offset: 14))
        #expect(live(&queue, ByteBuffer(string: "gh"), offset: 16))
        #expect(take(&queue, 5) == .hello(offset: 10))
        #expect(take(&queue, 5) == .output(ByteBuffer(string: "abcd"), offset: 10))
        #expect(queue.countedBytes == 4)
        #expect(take(&queue, 100) == .output(ByteBuffer(string: "efgh"), offset: 14))
        #expect(queue.countedBytes == 0 && queue.isEmpty)
        #expect(take(&queue, 100) == nil)
    }

    @Test func outputIsNotJoinedAcrossAGapOrAnotherEvent() {
        var queue = ViewerQueue(limit: 1000)
        queue.enqueue(.output(ByteBuffer(string: "ab"), offset: 0))
        queue.enqueue(.output(ByteBuffer(string: "xy"), offset: 50))
        queue.close(with: .exit(code: 0, reason: "exited"), dropPending: false)
        #expect(take(&queue, 100) == .output(ByteBuffer(string: "ab"), offset: 0))
        #expect(take(&queue, 100) == .output(ByteBuffer(string: "xy"), offset: 50))
        #expect(take(&queue, 100) == .exit(code: 0, reason: "exited"))
    }

    @Test func joiningDoesNotTouchTheSharedChunk() {
        // Live chunks are shared by every viewer: joining must copy, not write into another's.
        let shared = ByteBuffer(string: "ab")
        var first = ViewerQueue(limit: 100)
        var second = ViewerQueue(limit: 100)
        #expect(live(&first, shared, offset: 0) && live(&second, shared, offset: 0))
        #expect(live(&first, ByteBuffer(string: "cd"), offset: 2))
        #expect(take(&first, 100) == .output(ByteBuffer(string: "abcd"), offset: 0))
        #expect(take(&second, 100) == .output(ByteBuffer(string: "ab"), offset: 0))
        #expect(shared == ByteBuffer(string: "ab"))
    }

    @Test func closingWithDropDropsTheOutputButNotTheHello() {
        var queue = ViewerQueue(limit: 100)
        queue.enqueue(.hello(offset: 0))
        #expect(live(&queue, bytes(50), offset: 0))
        queue.close(with: .closed(.overflow), dropPending: true)
        #expect(queue.isClosed && queue.countedBytes == 0)
        #expect(live(&queue, bytes(1), offset: 50))
        queue.enqueue(.reset(offset: 3))
        queue.close(with: .closed(.shutdown), dropPending: false)
        #expect(take(&queue, 100) == .hello(offset: 0))
        #expect(take(&queue, 100) == .closed(.overflow))
        #expect(take(&queue, 100) == nil)
    }

    @Test func sizesAreClamped() {
        #expect(TerminalSize(columns: 120, rows: 40) == TerminalSize(columns: 120, rows: 40))
        let tiny = TerminalSize(columns: 0, rows: -5)
        #expect(tiny.columns == 1 && tiny.rows == 1)
        let huge = TerminalSize(columns: 100_000, rows: Int.max)
        #expect(huge.columns == 1000 && huge.rows == 1000)
    }

    @Test func signalNamesAndHowTheyTravel() {
        #expect(TerminalSignal(name: "INT") == .interrupt)
        #expect(TerminalSignal(name: "sigint") == .interrupt)
        #expect(TerminalSignal(name: "SIGTSTP") == .suspend)
        #expect(TerminalSignal(name: "Term") == .terminate)
        #expect(TerminalSignal(name: "USR1") == nil)
        #expect(TerminalSignal(name: "SIG") == nil)
        #expect(TerminalSignal(name: "") == nil)
        #expect(TerminalSignal.interrupt.controlCharacter == 0x03 && TerminalSignal.interrupt.engineSignal == nil)
        #expect(TerminalSignal.quit.controlCharacter == 0x1c)
        #expect(TerminalSignal.suspend.controlCharacter == 0x1a)
        #expect(TerminalSignal.terminate.engineSignal == "SIGTERM" && TerminalSignal.terminate.controlCharacter == nil)
        #expect(TerminalSignal.hangup.engineSignal == "SIGHUP")
        #expect(TerminalSignal.kill.engineSignal == "SIGKILL")
    }
}
