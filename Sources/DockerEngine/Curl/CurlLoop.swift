import CCurl
import Foundation
import Synchronization

/// One thread that drives every libcurl transfer of a client through a multi handle.
///
/// Concurrency model: the multi handle and every easy handle added to it are touched only on this
/// loop's own thread (libcurl handles are not thread-safe). Other threads talk to the loop through
/// `commands`, a mutex-protected queue, and wake it with `curl_multi_wakeup`, the one multi call
/// libcurl documents as safe from any thread. Blocking happens only in `curl_multi_poll` on this
/// thread, never on Swift's cooperative pool.
final class CurlLoop: Sendable {
    enum Command {
        case add(CurlTransfer)
        case cancel(CurlTransfer, DockerError)
        case resume(CurlTransfer)
        case shutdown
    }

    /// The multi handle's address. Only the loop thread uses it, except for `curl_multi_wakeup`.
    private let multi: MultiHandle
    private let commands = Mutex<(queue: [Command], stopped: Bool)>(([], false))

    /// `CURLM*` (a raw pointer) is not Sendable; the wrapper is safe because only the loop thread calls libcurl with
    /// it, apart from `curl_multi_wakeup`, which libcurl documents as thread-safe.
    private struct MultiHandle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    init(name: String) {
        CurlGlobal.initialize()
        guard let multi = curl_multi_init() else {
            // curl_multi_init fails only when malloc fails.
            fatalError("curl_multi_init failed: out of memory")
        }
        self.multi = MultiHandle(pointer: multi)
        let thread = Thread { [self] in
            // Named from inside: Foundation on Linux gives the kernel a name set before `start()`
            // to no thread, and an unnamed thread shows its creator's name in `top -H`.
            Thread.current.name = name
            self.run()
        }
        thread.start()
    }

    func submit(_ command: Command) {
        let accepted = commands.withLock { state -> Bool in
            if state.stopped { return false }
            state.queue.append(command)
            return true
        }
        if accepted {
            curl_multi_wakeup(multi.pointer)
        } else if case .add(let transfer) = command {
            transfer.complete(
                error: DockerError(
                    code: .cancelled, method: transfer.method, path: transfer.path,
                    detail: "the Docker client was shut down"))
        }
    }

    func shutdown() {
        submit(.shutdown)
    }

    // MARK: - Loop thread

    private func run() {
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        var running: Int32 = 0
        var stopping = false
        while !stopping || !active.isEmpty {
            let pending = commands.withLock { state -> [Command] in
                defer { state.queue.removeAll(keepingCapacity: true) }
                return state.queue
            }
            for command in pending {
                switch command {
                case .add(let transfer):
                    if stopping {
                        transfer.complete(error: transfer.error(.cancelled, "the Docker client was shut down"))
                        continue
                    }
                    let code = curl_multi_add_handle(multi.pointer, transfer.easy)
                    if code != CURLM_OK {
                        transfer.complete(error: transfer.error(.transport, "curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))"))
                    } else {
                        active[transfer.easy] = transfer
                    }
                case .cancel(let transfer, let error):
                    if active.removeValue(forKey: transfer.easy) != nil {
                        curl_multi_remove_handle(multi.pointer, transfer.easy)
                        transfer.complete(error: error)
                    }
                case .resume(let transfer):
                    if active[transfer.easy] != nil {
                        curl_easy_pause(transfer.easy, CURLPAUSE_CONT)
                    }
                case .shutdown:
                    stopping = true
                    commands.withLock { $0.stopped = true }
                    for (_, transfer) in active {
                        curl_multi_remove_handle(multi.pointer, transfer.easy)
                        transfer.complete(error: transfer.error(.cancelled, "the Docker client was shut down"))
                    }
                    active.removeAll()
                }
            }
            if stopping && active.isEmpty { break }

            curl_multi_perform(multi.pointer, &running)

            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi.pointer, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let result = message.pointee.data.result
                if let transfer = active.removeValue(forKey: easy) {
                    transfer.finished(result: result)
                    // Complete before removing: a connect-only transfer takes its socket over here.
                    transfer.complete(error: nil)
                    curl_multi_remove_handle(multi.pointer, easy)
                }
            }

            // Enforce deadlines that libcurl cannot (time to response head on streams).
            let now = ContinuousClock.now
            var wait: Int32 = 1000
            for (key, transfer) in active {
                guard let deadline = transfer.headDeadline, !transfer.headReceived else { continue }
                if deadline <= now {
                    active.removeValue(forKey: key)
                    curl_multi_remove_handle(multi.pointer, transfer.easy)
                    transfer.complete(error: transfer.error(.timeout, "no response from the engine within \(transfer.headTimeoutDescription)"))
                } else {
                    let ms = (deadline - now).milliseconds
                    wait = min(wait, Int32(clamping: max(ms, 1)))
                }
            }
            if stopping && active.isEmpty { break }
            curl_multi_poll(multi.pointer, nil, 0, wait, nil)
        }
        curl_multi_cleanup(multi.pointer)
    }
}

enum CurlGlobal {
    private static let once: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    static func initialize() {
        _ = once
    }
}
