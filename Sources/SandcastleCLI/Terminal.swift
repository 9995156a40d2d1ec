import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The local terminal in raw mode (no echo, no line editing, no signals from keys: every byte
/// goes to the session), restored on ``restore()``.
final class RawTerminal: Sendable {
    let fd: Int32
    private let original: termios

    /// Nil when `fd` is not a terminal (input from a pipe is passed on as it is).
    init?(fd: Int32 = STDIN_FILENO) {
        var settings = termios()
        guard isatty(fd) == 1, tcgetattr(fd, &settings) == 0 else { return nil }
        self.fd = fd
        original = settings
        cfmakeraw(&settings)
        guard tcsetattr(fd, TCSANOW, &settings) == 0 else { return nil }
    }

    func restore() {
        var settings = original
        _ = tcsetattr(fd, TCSANOW, &settings)
    }

    /// Columns and rows of the terminal on `fd`, if it is one.
    static func size(of fd: Int32 = STDOUT_FILENO) -> (cols: Int, rows: Int)? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}

/// What the local side of an attach produces.
enum LocalInput: Sendable {
    case bytes([UInt8])
    case resized
    case endOfInput
}

/// The write end of the SIGWINCH self-pipe. Set before the handler is installed and never
/// changed, so the handler (which may only make async-signal-safe calls) just writes to it.
nonisolated(unsafe) private var windowChangePipe: Int32 = -1

/// Reads standard input and window-size changes on a thread of its own (the reads block), so
/// neither runs on Swift's cooperative pool. The thread ends with the process.
enum LocalInputReader {
    static func start(watchWindowSize: Bool) -> AsyncStream<LocalInput> {
        var fds: [Int32] = [-1, -1]
        if watchWindowSize, pipe(&fds) == 0 {
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
            windowChangePipe = fds[1]
            signal(SIGWINCH) { _ in
                var byte: UInt8 = 1
                _ = write(windowChangePipe, &byte, 1)
            }
        }
        let signalRead = fds[0]
        let (stream, continuation) = AsyncStream.makeStream(of: LocalInput.self, bufferingPolicy: .bufferingNewest(256))
        let thread = Thread {
            // Named from inside (Foundation on Linux passes a name set before `start()` to no
            // thread), within the kernel's 15 bytes.
            Thread.current.name = "sandcastle-tty"
            var inputOpen = true
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                var polled = [pollfd(fd: inputOpen ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0), pollfd(fd: signalRead, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&polled, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if polled[1].revents & Int16(POLLIN) != 0 {
                    _ = buffer.withUnsafeMutableBytes { read(signalRead, $0.baseAddress, 64) }
                    continuation.yield(.resized)
                }
                if inputOpen, polled[0].revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                    if count > 0 {
                        continuation.yield(.bytes(Array(buffer[..<count])))
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        inputOpen = false
                        continuation.yield(.endOfInput)
                        if signalRead < 0 { break }
                    }
                }
            }
            continuation.finish()
        }
        thread.start()
        return stream
    }
}

/// Docker's detach sequence, Ctrl-P Ctrl-Q: split out of the input stream. A Ctrl-P is held
/// back until the next byte shows whether it starts the sequence.
struct DetachKeys {
    static let first: UInt8 = 0x10
    static let second: UInt8 = 0x11
    private var holding = false

    /// The bytes to send on, and whether the sequence was typed (nothing after it is sent).
    mutating func feed(_ bytes: [UInt8]) -> (forward: [UInt8], detach: Bool) {
        var forward: [UInt8] = []
        for byte in bytes {
            if holding {
                holding = false
                if byte == Self.second { return (forward, true) }
                forward.append(Self.first)
            }
            if byte == Self.first { holding = true } else { forward.append(byte) }
        }
        return (forward, false)
    }
}
