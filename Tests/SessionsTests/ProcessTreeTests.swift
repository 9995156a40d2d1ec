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

    @Test func aRealTreeIsFoundWithItsNamespacePIDs() async throws {
        // sh starts a background sleep and waits on a foreground one: a root with two children.
        let tree = Process()
        tree.executableURL = URL(fileURLWithPath: "/bin/sh")
        tree.arguments = ["-c", "sleep 3131 & sleep 3132; wait"]
        try tree.run()
        defer { _ = ProcessTree.descendants(of: tree.processIdentifier, parents: ProcessTree.parents()).map { kill($0, SIGKILL) } }
        let root = tree.processIdentifier
        var found: [Int32] = []
        for _ in 0..<1000 where found.count < 3 {
            found = await ProcessTree.namespacePIDs(root: root)
            try await Task.sleep(for: .milliseconds(10))
        }
        // This test runs in the host's pid namespace: the innermost pid is the host pid.
        #expect(found.count == 3 && found.first == root, "\(found)")
        #expect(ProcessTree.namespacePID(of: getpid()) == getpid())
        #expect(ProcessTree.namespacePID(of: Int32.max) == nil)
    }
}
