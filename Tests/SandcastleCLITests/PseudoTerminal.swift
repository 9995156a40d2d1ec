import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The real `sandcastle` binary run on a pseudo-terminal: keys are written to the master side,
/// everything the program puts on its terminal (stdout and stderr) is read back as the screen.
final class PseudoTerminal: Sendable {
    let master: Int32
    let process: Process
    private let output = Captured()
    private let status = ExitStatusBox()

    final class ExitStatusBox: Sendable {
        let value = Mutex<Int32?>(nil)
    }

    // From <asm-generic/ioctls.h>: _IOR('T', 0x30, unsigned int) and _IOW('T', 0x31, int). Swift
    // does not import function-like macros, and posix_openpt needs _XOPEN_SOURCE.
    private static let getPTYNumber: UInt = 0x8004_5430
    private static let setPTYLock: UInt = 0x4004_5431

    /// Runs `sandcastle ARGUMENTS` on a new pseudo-terminal of `cols` x `rows`, through
    /// `launcher LAUNCHER-ARGUMENTS` when given (as `setsid --ctty`).
    init(
        arguments: [String], cols: UInt16 = 100, rows: UInt16 = 30, launcher: String? = nil, launcherArguments: [String] = []
    ) throws {
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw HarnessFailure("cannot open /dev/ptmx: \(String(cString: strerror(errno)))") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(master, Self.setPTYLock, &unlock) == 0, ioctl(master, Self.getPTYNumber, &number) == 0 else {
            close(master)
            throw HarnessFailure("cannot set up the pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        var size = winsize(ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else {
            close(master)
            throw HarnessFailure("cannot open /dev/pts/\(number): \(String(cString: strerror(errno)))")
        }
        process = Process()
        let sandcastle = try Binaries.path("sandcastle")
        if let launcher {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = launcherArguments + [sandcastle] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: sandcastle)
            process.arguments = arguments
        }
        let terminal = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        process.standardInput = terminal
        process.standardOutput = terminal
        process.standardError = terminal
        try process.run()
        // The child has its copies; the parent's would keep the terminal open after it exits.
        try? terminal.close()
        let master = self.master
        let output = self.output
        Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                if count > 0 {
                    output.bytes.withLock { $0.append(contentsOf: buffer[..<count]) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break  // EIO: every slave descriptor is closed
                }
            }
        }.start()
        let process = self.process
        let status = self.status
        Thread {
            process.waitUntilExit()
            status.value.withLock { $0 = process.terminationStatus }
        }.start()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        close(master)
    }

    var screen: String { String(decoding: output.bytes.withLock { $0 }, as: UTF8.self) }

    func type(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = write(master, $0.baseAddress, $0.count) }
    }

    /// Changes the terminal's size (TIOCSWINSZ on the master side): its foreground process
    /// group gets SIGWINCH.
    func resize(cols: UInt16, rows: UInt16) {
        var size = winsize(ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
    }

    /// Waits (up to `seconds`) for `text` on the screen.
    func waitFor(_ text: String, seconds: Int = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if screen.contains(text) { return }
            if status.value.withLock({ $0 }) != nil, !screen.contains(text) {
                try await Task.sleep(for: .milliseconds(100))
                if screen.contains(text) { return }
                throw HarnessFailure("sandcastle exited before showing \(text.debugDescription); screen:\n\(screen)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessFailure("\(text.debugDescription) never appeared; screen:\n\(screen)")
    }

    /// Presses Enter until the shell's `prompt` shows. Busybox's line editor asks the terminal
    /// for the cursor position at its first prompt and takes the next keys as the answer, so
    /// keys typed before a prompt is on the screen may be lost; a lost Enter is harmless.
    func waitForPrompt(_ prompt: String = "/workspace $", seconds: Int = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if screen.contains(prompt) { return }
            type("\r")
            try await Task.sleep(for: .milliseconds(500))
        }
        throw HarnessFailure("no prompt \(prompt.debugDescription); screen:\n\(screen)")
    }

    /// Types `command` (and Enter) every second until `text` shows: for what the session learns
    /// asynchronously, as a resize that the engine applies while the shell already reads keys.
    func retype(_ command: String, until text: String, seconds: Int = 20) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            type(command + "\r")
            for _ in 0..<10 {
                if screen.contains(text) { return }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw HarnessFailure("\(text.debugDescription) never appeared after \(command); screen:\n\(screen)")
    }

    /// Waits for the program to exit; its status.
    func waitForExit(seconds: Int = 20) async throws -> Int32 {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let status = status.value.withLock({ $0 }) { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessFailure("sandcastle did not exit; screen:\n\(screen)")
    }
}
