import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Sessions

@Suite("Killing an exec's process tree")
struct ProcessTreeTests {
    @Test func descendantsFollowParentLinksAndNothingElse() {
        let parents: [Int32: Int32] = [10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20]
        #expect(Set(ProcessTree.descendants(of: 10, parents: parents)) == [10, 11, 12, 13])
        #expect(ProcessTree.descendants(of: 10, parents: parents).first == 10)
        #expect(ProcessTree.descendants(of: 21, parents: parents) == [21])
    }

    @Test func parentsAreReadFromProc() {
        let parents = ProcessTree.parents()
        #expect(parents[getpid()] == getppid())
    }

    @Test func aRealTreeIsKilledWholeAndItsSiblingsSurvive() async throws {
        // sh starts a background sleep and waits on a foreground one: a root with two children.
        let tree = Process()
        tree.executableURL = URL(fileURLWithPath: "/bin/sh")
        tree.arguments = ["-c", "sleep 3131 & sleep 3132; wait"]
        let bystander = Process()
        bystander.executableURL = URL(fileURLWithPath: "/bin/sleep")
        bystander.arguments = ["3133"]
        try tree.run()
        try bystander.run()
        defer { bystander.terminate() }
        let root = tree.processIdentifier
        var children: [Int32] = []
        for _ in 0..<200 where children.count < 2 {
            children = ProcessTree.descendants(of: root, parents: ProcessTree.parents()).filter { $0 != root }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(children.count == 2)
        #expect(await ProcessTree.killBlocking(root: root) == 3)
        tree.waitUntilExit()
        #expect(tree.terminationReason == .uncaughtSignal && tree.terminationStatus == SIGKILL)
        for _ in 0..<200 where children.contains(where: { kill($0, 0) == 0 && !Self.isZombie($0) }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(!children.contains { kill($0, 0) == 0 && !Self.isZombie($0) })
        #expect(bystander.isRunning)
    }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return true
        }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }
}
