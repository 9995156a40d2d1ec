import Foundation
@testable import SandcastleBench
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How the bench tells the engine's and the containers' CPU apart from the rest of the machine.
@Suite("Benchmark: the rest of the machine, split")
struct MachineProcessesTests {
    private typealias Process = MachineProcesses.Process

    @Test func processesUnderAShimAreTheContainersAndTheEngineIsNamed() {
        let before: [Int32: Process] = [
            1: .init(parent: 0, name: "init", started: 7, microseconds: 0),
            10: .init(parent: 1, name: "dockerd", started: 7, microseconds: 1_000),
            11: .init(parent: 1, name: "containerd", started: 7, microseconds: 500),
            20: .init(parent: 1, name: "containerd-shim", started: 7, microseconds: 100),
            21: .init(parent: 20, name: "gate", started: 7, microseconds: 50),
            30: .init(parent: 1, name: "sandcastled", started: 7, microseconds: 9_000),
            40: .init(parent: 1, name: "kworker/0:1", started: 7, microseconds: 10),
        ]
        var after = before
        after[10]?.microseconds += 300  // dockerd
        after[20]?.microseconds += 20  // the shim is the engine's
        after[21]?.microseconds += 40  // the gate
        after[22] = .init(parent: 21, name: "cat", started: 9, microseconds: 600)  // started in the window
        after[30]?.microseconds += 5_000  // the daemon: left out
        after[40]?.microseconds += 70  // neither
        after[11] = nil  // exited: lost, not negative

        let spent = MachineProcesses.spent(from: before, to: after, excluding: [30])
        #expect(spent == MachineProcesses(engineMicroseconds: 320, containerMicroseconds: 640))
    }

    @Test func aPidReusedByAnotherProcessCountsFromZero() {
        let before: [Int32: Process] = [
            20: .init(parent: 1, name: "containerd-shim", started: 7, microseconds: 0),
            21: .init(parent: 20, name: "cat", started: 7, microseconds: 5_000),
        ]
        var after = before
        after[21] = .init(parent: 20, name: "cat", started: 9, microseconds: 700)
        #expect(MachineProcesses.spent(from: before, to: after, excluding: []).containerMicroseconds == 700)
    }

    /// The gate executes the session's command in its own place: a new name, the same process,
    /// whose time before the window (the gate's and `runc`'s set-up) is not the window's.
    @Test func aProcessThatExecutesAnotherProgramKeepsItsEarlierTimeOut() {
        let before: [Int32: Process] = [
            20: .init(parent: 1, name: "containerd-shim", started: 7, microseconds: 0),
            21: .init(parent: 20, name: "gate", started: 8, microseconds: 5_000),
        ]
        var after = before
        after[21] = .init(parent: 20, name: "cat", started: 8, microseconds: 5_300)
        #expect(MachineProcesses.spent(from: before, to: after, excluding: []).containerMicroseconds == 300)
    }

    @Test func theSplitIsReportedBesideTheRest() throws {
        var report = BenchReport.CPUPerOperation(
            daemonMicroseconds: 1700, clientMicroseconds: 600, restMicroseconds: 3000, operations: 32)
        #expect(!report.describe("launch").contains("containers"))
        report.containerMicroseconds = 912.4
        report.engineMicroseconds = 35
        #expect(report.describe("launch").contains("rest of the machine 3000 us (containers 912 us, engine 35 us) per launch"))
        let decoded = try JSONDecoder().decode(BenchReport.CPUPerOperation.self, from: JSONEncoder().encode(report))
        #expect(decoded == report)
    }

    /// Against the real `/proc`: a shell named like a shim (its `comm` is the first 15 bytes of
    /// its file's name) starts a child that burns CPU; the child's time is the containers'.
    @Test func theRealProcessTableIsReadAndSplit() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-shim-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let shim = directory.appendingPathComponent("containerd-shim-test")
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: shim.path)

        let before = MachineProcesses.readProcesses()
        let own = try #require(before[getpid()])
        #expect(own.parent == getppid())
        #expect(own.microseconds > 0)
        #expect(own.started > 0)

        let process = Foundation.Process()
        process.executableURL = shim
        // The child is not exec'd in place (`; true`), so it stays beneath the shim; it reports
        // when its loop is done and lives until the table is read again.
        process.arguments = ["-c", "sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done; exec sleep 30'; true"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let line = output.fileHandleForReading.availableData
        #expect(String(decoding: line, as: UTF8.self).hasPrefix("done"))
        let after = MachineProcesses.readProcesses()
        let spent = MachineProcesses.spent(from: before, to: after, excluding: [getpid()])
        let children = after.filter { $0.value.parent == process.processIdentifier }.map(\.key)
        for child in children { kill(child, SIGKILL) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        #expect(after[process.processIdentifier]?.name == "containerd-shim")
        #expect(children.count == 1)
        // 100,000 rounds of a shell loop: tens of milliseconds, all the child's.
        #expect(spent.containerMicroseconds > 5_000, "\(spent)")
    }
}
