import SandcastleTestSupport
import Testing

/// The children tests start: they must be able to end on SIGTERM, wherever they are started from.
@Suite("Test support: child processes")
struct ChildProcessTests {
    /// bash reports its own mask, the one it starts its own children with (dash would clear it).
    static let command = ["-c", "grep SigBlk /proc/$$/status"]

    @Test func aChildStartsWithNoSignalBlocked() async throws {
        // Straight from a test's task, as fixtures do with `runBlocking`: on a thread of Swift's
        // pool, which blocks SIGTERM and most other signals; and from a thread of its own.
        let direct = try ChildProcess.runBlocking("bash", Self.command, timeout: .seconds(10))
        #expect(direct.output.contains("SigBlk:\t0000000000000000"), "\(direct.output)")
        let threaded = try await ChildProcess.run("bash", Self.command, timeout: .seconds(10))
        #expect(threaded.output.contains("SigBlk:\t0000000000000000"), "\(threaded.output)")
    }
}
