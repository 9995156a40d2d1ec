import Foundation
import Testing

@testable import SandcastleDaemon

@Suite("The daemon's state files")
struct DaemonStateTests {
    @Test func theInstanceIDIsMadeOnceAndKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sandcastle-state-\(UUID().uuidString)").path
        try DaemonState.prepare(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try DaemonState.instanceID(in: directory)
        #expect(first.hasPrefix("sd-"))
        #expect(try DaemonState.instanceID(in: directory) == first)
    }

    @Test func aValueThatCannotBeKeptIsAnError() throws {
        // A regular file where the directory should be: nothing can be written under it.
        let notADirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sandcastle-file-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: notADirectory, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: notADirectory) }
        let error = #expect(throws: DaemonError.self) { try DaemonState.instanceID(in: notADirectory) }
        #expect(error.map { "\($0)".contains("instance-id") } == true)
    }
}
