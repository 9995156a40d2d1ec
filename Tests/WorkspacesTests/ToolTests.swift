import Foundation
import SandboxPolicy
import Testing

@testable import Workspaces

@Suite("running tools and reading loop devices")
struct ToolTests {
    static let shell = Tool(name: "sh", package: "dash")

    @Test("a tool's output (stdout and stderr) and exit status come back; a signal counts as 128 + signal")
    func run() throws {
        let failed = try #require(
            try Self.shell.run(["-c", "echo out; echo err >&2; exit 3"], workspace: "w", step: "test"))
        #expect(failed.status == 3)
        #expect(failed.output == "out\nerr")
        let killed = try #require(try Self.shell.run(["-c", "kill -9 $$"], workspace: "w", step: "test"))
        #expect(killed.status == 128 + 9)
    }

    @Test("the child gets a fixed environment, /dev/null as stdin and no descriptor of ours")
    func isolation() throws {
        let leaked = open("/dev/null", O_RDONLY)  // without O_CLOEXEC on purpose
        defer { close(leaked) }
        let run = try #require(
            try Self.shell.run(
                ["-c", "echo \"$PATH $LC_ALL\"; ls /proc/self/fd | tr '\\n' ' '; read x; echo read=$?"], workspace: "w",
                step: "test"))
        #expect(run.output.hasPrefix("/usr/sbin:/usr/bin:/sbin:/bin C\n"))
        #expect(!run.output.contains(" \(leaked) "), "\(run.output)")
        #expect(run.output.hasSuffix("read=1"))
    }

    @Test("a tool that is not installed is nil; the runner says which package to install")
    func missing() throws {
        let absent = Tool(name: "no-such-tool-\(getpid())", package: "e2fsprogs")
        #expect(absent.path == nil)
        #expect(try absent.run([], workspace: "w", step: "test") == nil)
        #expect {
            try ToolRunner(path: "/srv/ws/demo", imagePath: "/i/demo.ext4").run(absent, [], step: "format the image")
        } throws: { error in
            let error = error as? WorkspaceError
            return error?.code == .sizeLimitUnavailable && error?.message.contains("install e2fsprogs") == true
        }
    }

    @Test("a failed step names the workspace, the tool and what it printed")
    func failure() throws {
        let error = ToolRunner(path: "/srv/ws/demo", imagePath: "/i/demo.ext4")
            .failure(.mount, Tool.Run(status: 32, output: "mount: wrong fs type"), step: "mount the image")
        #expect(error.code == .commandFailed && error.operation == "mount")
        #expect(error.description.hasPrefix("workspace /srv/ws/demo: could not mount the image (mount exited 32)"))
        #expect(error.description.hasSuffix("; it printed: mount: wrong fs type"))
    }

    @Test("loop devices: mount sources, and which device a file backs (from a sysfs-shaped directory)")
    func loopDevices() throws {
        #expect(LoopDevices.deviceName(ofSource: "/dev/loop12") == "loop12")
        #expect(LoopDevices.deviceName(ofSource: "/dev/loop") == nil)
        #expect(LoopDevices.deviceName(ofSource: "/dev/loop1p2") == nil)
        #expect(LoopDevices.deviceName(ofSource: "/dev/vda") == nil)
        #expect(LoopDevices.deviceName(ofSource: "tmpfs") == nil)

        let sys = FileManager.default.temporaryDirectory.appendingPathComponent("quota-sys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: sys) }
        func bind(_ device: String, _ backing: String?) throws {
            let directory = sys.appendingPathComponent(device).appendingPathComponent("loop")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if let backing { try (backing + "\n").write(to: directory.appendingPathComponent("backing_file"), atomically: true, encoding: .utf8) }
        }
        try bind("loop0", "/i/demo.ext4")
        try bind("loop1", nil)
        try bind("loop2", "/i/other.ext4")
        try bind("loop10", "/i/demo.ext4")
        try bind("vda", "/i/demo.ext4")
        try bind("loop3", "/i/demo.ext4 (deleted)")
        let devices = LoopDevices(sysBlock: sys.path)
        #expect(devices.backingFile(of: "loop0") == "/i/demo.ext4")
        #expect(devices.backingFile(of: "loop1") == nil)
        #expect(devices.backingFile(of: "loop9") == nil)
        #expect(devices.devices(backedBy: "/i/demo.ext4") == ["loop0", "loop10"])
    }

    @Test("effective capabilities come from CapEff in /proc/self/status")
    func capabilities() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000001200000\nCapBnd:\t000001ffffffffff\n"
        #expect(Capabilities.effective(24, status: status))
        #expect(Capabilities.effective(21, status: status))
        #expect(!Capabilities.effective(22, status: status))
        #expect(!Capabilities.effective(24, status: "CapEff:\tzz\n"))
        #expect(!Capabilities.effective(24, status: nil))
    }
}
