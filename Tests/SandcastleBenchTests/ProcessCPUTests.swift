import Foundation
@testable import SandcastleBench
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the bench reads of a process from the scheduler, checked on the test process itself.
// One at a time: each reads the whole test process's threads, which another test's threads would change.
@Suite("Benchmark: the scheduler's per-thread figures", .serialized)
struct ProcessCPUTests {
    @Test func aThreadThatSleepsAndWakesIsCountedEachTime() throws {
        let before = try #require(ProcessCPU.threads(pid: getpid())?.slices)
        // A thread of its own that sleeps 20 times (each wake-up puts it on a CPU again), then
        // stays alive until it has been counted.
        let slept = DispatchSemaphore(value: 0)
        let counted = DispatchSemaphore(value: 0)
        Thread {
            for _ in 0..<20 { usleep(1000) }
            slept.signal()
            counted.wait()
        }.start()
        slept.wait()
        let after = try #require(ProcessCPU.threads(pid: getpid())?.slices)
        counted.signal()
        #expect(after - before >= 20, "before \(before), after \(after)")
    }

    @Test func theCountIsReportedPerOperation() throws {
        var report = BenchReport.CPUPerOperation(daemonMicroseconds: 900, clientMicroseconds: 400, daemonWakeups: 41, operations: 32)
        #expect(report.describe("launch").contains("41 daemon thread wake-ups per launch"))
        report.daemonWakeups = nil
        #expect(!report.describe("launch").contains("wake-ups"))
        report.daemonThreadWakeups = ["NIO-ELT--#": 12.4, "oot.default-qos": 20, "idle": 0.2]
        #expect(report.describe("launch").hasSuffix("(wake-ups: oot.default-qos 20, NIO-ELT--# 12)"), "\(report.describe("launch"))")
    }

    @Test func wakeUpsAreCountedPerThreadGroup() throws {
        let before = try #require(ProcessCPU.threads(pid: getpid()))
        let slept = DispatchSemaphore(value: 0)
        let counted = DispatchSemaphore(value: 0)
        Thread {
            // Named through the kernel's own file: Foundation's `Thread.current.name` did not
            // always reach the kernel (once in a CI run the thread kept the process's name and
            // was not counted).
            let comm = open("/proc/thread-self/comm", O_WRONLY)
            if comm >= 0 {
                _ = "bench-test-7".withCString { write(comm, $0, strlen($0)) }
                close(comm)
            }
            for _ in 0..<20 { usleep(1000) }
            slept.signal()
            counted.wait()
        }.start()
        slept.wait()
        let after = try #require(ProcessCPU.threads(pid: getpid()))
        counted.signal()
        #expect(before.groupSlices["bench-test-"] == nil)
        #expect((after.groupSlices["bench-test-"] ?? 0) >= 20, "\(after.groupSlices)")
    }

    @Test func aThreadThatExitsInsideAWindowTakesOnlyItsTimeInItWithIt() async throws {
        // Read as the threads alive at each end, the ended thread's 40 ms would come off the 20.
        let spent = await Self.withAThreadEndingInside { window in
            await ProcessCPU.spentByThreads(pid: getpid()) { window() }
        }
        #expect(spent >= 15_000, "idle window: \(spent) us")
        let metered = await Self.withAThreadEndingInside { window in
            var meter = CPUMeter(daemonPID: getpid(), profiled: false)
            await meter.measure { window() }
            return meter.daemonMicroseconds
        }
        #expect(metered >= 15_000, "an operation's window: \(metered) us")
    }

    /// Starts a thread that runs for 40 ms and waits; `measure` gets a window to run, inside which
    /// that thread ends and the caller spins 20 ms.
    static func withAThreadEndingInside(_ measure: (() -> Void) async -> Double) async -> Double {
        let ran = DispatchSemaphore(value: 0)
        let end = DispatchSemaphore(value: 0)
        let ended = DispatchSemaphore(value: 0)
        Thread {
            Self.spin(milliseconds: 40)
            ran.signal()
            end.wait()
            ended.signal()
        }.start()
        ran.wait()
        return await measure {
            end.signal()
            ended.wait()
            usleep(20_000)
            Self.spin(milliseconds: 20)
        }
    }

    /// Runs until this thread has used `milliseconds` of CPU (not of the wall clock: on a loaded
    /// host a thread may get only part of a core).
    static func spin(milliseconds: Int) {
        let end = ProcessCPU.callingThreadMicroseconds() + Double(milliseconds) * 1000
        while ProcessCPU.callingThreadMicroseconds() < end {}
    }
}
