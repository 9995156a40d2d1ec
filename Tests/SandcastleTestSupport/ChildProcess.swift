import Foundation
import Glibc

/// A program run to completion by a test (the docker CLI, `scripts/dind`), its stdout and stderr
/// collected together.
public enum ChildProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var duration: Duration
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Runs `executable` (a path, or a name looked up on PATH through `/usr/bin/env`) and waits for
    /// it on the calling thread. After `timeout` it gets SIGTERM (time to clean up: `scripts/dind`
    /// removes its container), and SIGKILL 30 seconds later; the error then carries the output so far.
    /// Blocks: call it from a thread of its own or a synchronous test, or use the async `run`.
    public static func runBlocking(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, timeout: Duration
    ) throws -> Result {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        if let environment { process.environment = environment }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let started = ContinuousClock.now
        do {
            try withNothingBlocked { try process.run() }
        } catch {
            throw Failure("cannot start \(executable): \(error)")
        }
        let collected = OutputBuffer()
        let reader = Thread {
            collected.data = output.fileHandleForReading.readDataToEndOfFile()
            collected.done.signal()
        }
        reader.start()
        let deadline = started + timeout
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            let killAt = ContinuousClock.now + .seconds(30)
            while process.isRunning, ContinuousClock.now < killAt { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            collected.done.wait()
            throw Failure("\(executable) \(arguments.prefix(2).joined(separator: " ")) timed out after \(timeout):\n\(collected.text)")
        }
        process.waitUntilExit()
        collected.done.wait()
        return Result(status: process.terminationStatus, output: collected.text, duration: ContinuousClock.now - started)
    }

    /// Runs `body` with no signal blocked on this thread. A child starts with its parent thread's
    /// signal mask, and the threads of Swift's pool (and those they start) block SIGTERM and most
    /// others: a child started from one could never be ended by SIGTERM, nor run a trap on it
    /// (`scripts/dind` removes its container on SIGTERM; a test's servers end on it).
    static func withNothingBlocked<T>(_ body: () throws -> T) rethrows -> T {
        var nothing = sigset_t()
        var previous = sigset_t()
        sigemptyset(&nothing)
        pthread_sigmask(SIG_SETMASK, &nothing, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    /// `runBlocking` on a thread of its own, so that the waiting never occupies the cooperative pool.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil, timeout: Duration
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    with: Swift.Result {
                        try runBlocking(
                            executable, arguments, environment: environment, workingDirectory: workingDirectory,
                            timeout: timeout)
                    })
            }
            thread.name = "ChildProcess \(executable)"
            thread.start()
        }
    }

    /// The path of the running executable (for a test: the test bundle).
    public static var currentExecutable: String {
        get throws {
            var buffer = [CChar](repeating: 0, count: 4096)
            let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
            guard count > 0 else { throw Failure("cannot read /proc/self/exe: errno \(errno)") }
            return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

private final class OutputBuffer: @unchecked Sendable {
    // Written by the reader thread before it signals `done`, read only after waiting on it.
    var data = Data()
    let done = DispatchSemaphore(value: 0)
    var text: String { String(decoding: data, as: UTF8.self) }
}
