import DockerEngine
import NIOCore
import Synchronization
import TerminalRelay

/// A scripted engine: each attachment's output is fed by the test, its input recorded; the
/// container's status, resizes and kills are the test's to set and read.
final class FakeEngine: TerminalEngine {
    struct NotRunning: Error {}

    /// One attachment, for the test to drive: what it sends reaches the relay's sink at once, on
    /// the sending thread (the real one pushes on an event loop).
    final class Attachment: TerminalAttachment {
        let replayLogs: Bool
        let input = RecordingInput()

        private struct Delivery {
            var sink: (any TerminalStreamSink)?
            var pending: [ByteBuffer] = []
            var ended = false
            var waiter: CheckedContinuation<Void, Never>?
        }
        private let delivery = Mutex(Delivery())

        init(replayLogs: Bool) {
            self.replayLogs = replayLogs
        }

        func send(_ text: String) {
            delivery.withLock { delivery in
                guard !delivery.ended else { return }
                if let sink = delivery.sink {
                    sink.received(ByteBuffer(string: text))
                } else {
                    delivery.pending.append(ByteBuffer(string: text))
                }
            }
        }

        /// Ends the attach stream, as the engine does when the container's stdio closes.
        func end() {
            delivery.withLock { delivery in
                delivery.ended = true
                defer { delivery.waiter = nil }
                return delivery.waiter
            }?.resume()
        }

        func deliver(to sink: any TerminalStreamSink) async throws {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ended = delivery.withLock { delivery in
                        delivery.sink = sink
                        for bytes in delivery.pending { sink.received(bytes) }
                        delivery.pending = []
                        if !delivery.ended { delivery.waiter = continuation }
                        return delivery.ended
                    }
                    if ended { continuation.resume() }
                }
            } onCancel: {
                end()
            }
        }

        func write(_ bytes: ByteBuffer) {
            input.received.withLock { $0.append(contentsOf: bytes.readableBytesView) }
        }

        var isWritable: Bool { true }

        func close() async {
            end()
        }
    }

    final class RecordingInput: Sendable {
        let received = Mutex<[UInt8]>([])
        var text: String { String(decoding: received.withLock { $0 }, as: UTF8.self) }
    }

    private struct State {
        var status = TerminalContainerStatus.running
        var attachments: [Attachment] = []
        var resizes: [TerminalSize] = []
        var kills: [String] = []
        var resizeDelay: Duration = .zero
    }

    private let state = Mutex(State())

    var status: TerminalContainerStatus {
        get { state.withLock { $0.status } }
        set { state.withLock { $0.status = newValue } }
    }

    var resizeDelay: Duration {
        get { state.withLock { $0.resizeDelay } }
        set { state.withLock { $0.resizeDelay = newValue } }
    }

    var attachments: [Attachment] { state.withLock { $0.attachments } }
    var resizes: [TerminalSize] { state.withLock { $0.resizes } }
    var kills: [String] { state.withLock { $0.kills } }

    /// The `number`-th attachment (from 1), once the relay has made it.
    func attachment(_ number: Int, timeout: Duration = .seconds(5)) async throws -> Attachment {
        try await eventually("attachment \(number)", timeout: timeout) { attachments.count >= number }
        return attachments[number - 1]
    }

    func attachTerminal(containerID: String, replayLogs: Bool) async throws -> any TerminalAttachment {
        let attachment = Attachment(replayLogs: replayLogs)
        try state.withLock { state in
            guard state.status == .running else { throw NotRunning() }
            state.attachments.append(attachment)
        }
        return attachment
    }

    func resizeContainerTTY(_ id: String, rows: Int, columns: Int) async throws {
        let delay = resizeDelay
        if delay > .zero { try await Task.sleep(for: delay) }
        state.withLock { $0.resizes.append(TerminalSize(columns: columns, rows: rows)) }
    }

    func killContainer(_ id: String, signal: String) async throws {
        state.withLock { $0.kills.append(signal) }
    }

    func terminalContainerStatus(_ id: String) async throws -> TerminalContainerStatus {
        status
    }
}

/// Records what the relay tells its delegate.
final class RecordingDelegate: TerminalRelayDelegate {
    let calls = Mutex<[String]>([])

    func terminalActivity(session: String) {
        calls.withLock { $0.append("activity \(session)") }
    }

    func viewerAttached(session: String, role: ViewerRole) {
        calls.withLock { $0.append("attached \(session) \(role.rawValue)") }
    }

    func viewerDetached(session: String, role: ViewerRole) {
        calls.withLock { $0.append("detached \(session) \(role.rawValue)") }
    }

    var recorded: [String] { calls.withLock { $0 } }
}

/// Runs `relay.run()` around `body`, then shuts the relay down and waits for `run()` to return.
func withRunningRelay<T: Sendable>(
    _ relay: TerminalRelay, _ body: (TerminalRelay) async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await relay.runTerminals() }
        do {
            let result = try await body(relay)
            relay.shutdown()
            try await group.waitForAll()
            return result
        } catch {
            relay.shutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}
