import DockerEngine
import Foundation
import NIOCore
import Synchronization
import SandcastleTestSupport
import Testing

@Suite("Hijacked attach and exec streams, logs and events against the real engine", .requiresEngine)
struct StreamTests {
    @Test func ttyRoundTripAndResize() async throws {
        let client = try await Engine.client()
        let config = Engine.config(["sh"], tty: true, openStdin: true)
        try await Engine.withContainer(client, config) { id in
            let stream = try await client.attachContainer(id, tty: true)
            try await client.startContainer(id)
            try await stream.executeThenClose { output, input in
                let collected = OutputCollector(output)
                defer { collected.stop() }
                try await input.write("echo h''i\n")
                // The terminal echoes the command line; the output line is "hi" on its own.
                try await collected.waitFor("hi") { $0.contains("\r\nhi\r\n") }

                try await client.resizeContainerTTY(id, rows: 37, columns: 123)
                try await input.write("stty size\n")
                try await collected.waitFor("stty size") { $0.contains("37 123") }

                try await input.write("exit 3\n")
                try await collected.waitFor("the end of the stream") { _ in collected.ended }
            }
            let result = try await client.waitContainer(id)
            #expect(result.statusCode == 3)
        }
    }

    @Test func nonTTYAttachIsMultiplexedAndHalfCloses() async throws {
        let client = try await Engine.client()
        // `cat` copies stdin to stdout until end-of-file: the half-close must reach it.
        let config = Engine.config(["sh", "-c", "cat; echo done >&2"], openStdin: true, stdinOnce: true)
        try await Engine.withContainer(client, config) { id in
            let stream = try await client.attachContainer(id, tty: false)
            try await client.startContainer(id)
            let frames = try await stream.executeThenClose { output, input in
                try await input.write("from stdin\n")
                input.closeWrite()
                var frames: [StreamFrame] = []
                for try await frame in output.demultiplexed() {
                    frames.append(frame)
                }
                return frames
            }
            let stdout = frames.filter { $0.stream == .stdout }.map { String(buffer: $0.payload) }.joined()
            let stderr = frames.filter { $0.stream == .stderr }.map { String(buffer: $0.payload) }.joined()
            #expect(stdout == "from stdin\n")
            #expect(stderr == "done\n")
            #expect(try await client.waitContainer(id).statusCode == 0)
        }
    }

    @Test func attachToAMissingContainerIsNotFound() async throws {
        let client = try await Engine.client()
        let notFoundContainer = await #expect(throws: DockerError.self) { try await client.attachContainer("sandcastle-no-such-container", tty: true) }
        #expect(notFoundContainer?.code == .notFound && notFoundContainer?.engineMessage?.contains("No such container") == true)
    }

    @Test func execWithItsOwnTTY() async throws {
        let client = try await Engine.client()
        try await Engine.withContainer(client, Engine.config(["sleep", "300"])) { id in
            try await client.startContainer(id)
            let exec = try await client.createExec(
                in: id, config: ExecConfig(cmd: ["sh"], tty: true, env: ["GREETING=from-exec"]))
            let stream = try await client.startExec(exec, tty: true)
            try await stream.executeThenClose { output, input in
                let collected = OutputCollector(output)
                defer { collected.stop() }
                try await client.resizeExecTTY(exec, rows: 11, columns: 77)
                try await input.write("tty; stty size; echo \"$GREETING\"\n")
                try await collected.waitFor("tty, size and env") {
                    $0.contains("/dev/pts/") && $0.contains("11 77") && $0.contains("\r\nfrom-exec\r\n")
                }
                try await input.write("exit 5\n")
                try await collected.waitFor("the end of the exec") { _ in collected.ended }
            }
            var inspect = try await client.inspectExec(exec)
            for _ in 0..<500 where inspect.running {
                try await Task.sleep(for: .milliseconds(20))
                inspect = try await client.inspectExec(exec)
            }
            #expect(inspect.running == false)
            #expect(inspect.exitCode == 5)
        }
    }

    @Test func logsAreDemultiplexedAndFollowed() async throws {
        let client = try await Engine.client()
        let config = Engine.config(["sh", "-c", "echo out; echo err >&2; sleep 1; echo later"])
        try await Engine.withContainer(client, config) { id in
            try await client.startContainer(id)
            var stdout = ""
            var stderr = ""
            for try await frame in try await client.logs(id, options: .init(follow: true)) {
                switch frame.stream {
                case .stdout: stdout += String(buffer: frame.payload)
                case .stderr: stderr += String(buffer: frame.payload)
                case .stdin: Issue.record("a stdin frame in logs")
                }
            }
            #expect(stdout == "out\nlater\n")
            #expect(stderr == "err\n")

            let tail = try await client.logs(id, options: .init(stderr: false, tail: 1))
            var last = ""
            for try await frame in tail { last += String(buffer: frame.payload) }
            #expect(last == "later\n")
        }
    }

    @Test func ttyLogsAreRaw() async throws {
        let client = try await Engine.client()
        try await Engine.withContainer(client, Engine.config(["sh", "-c", "echo tty-out"], tty: true)) { id in
            try await client.startContainer(id)
            _ = try await client.waitContainer(id)
            var text = ""
            for try await frame in try await client.logs(id) { text += String(buffer: frame.payload) }
            #expect(text == "tty-out\r\n")
        }
    }

    @Test func startAndDieEventsArrive() async throws {
        let client = try await Engine.client()
        let marker = "events-\(UUID().uuidString.prefix(8))"
        var filters = DockerFilters(["type": ["container"]])
        filters.label("dev.sandcastle.case", marker)
        let events = try await client.events(filters: filters)
        var config = Engine.config(["sh", "-c", "exit 4"])
        config.labels?["dev.sandcastle.case"] = marker
        try await Engine.withContainer(client, config) { id in
            try await client.startContainer(id)
            var seen: [DockerEvent] = []
            for try await event in events {
                #expect(event.actor.id == id)
                seen.append(event)
                if event.action == "die" { break }
            }
            #expect(seen.map(\.action).contains("start"))
            #expect(seen.last?.action == "die")
            #expect(seen.last?.exitCode == 4)
        }
    }

    @Test func cancellingAnEventStreamEndsItAtOnce() async throws {
        let client = try await Engine.client()
        let task = Task {
            var count = 0
            for try await _ in try await client.events(filters: DockerFilters(["type": ["container"], "label": ["dev.sandcastle.never"]])) {
                count += 1
            }
            return count
        }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        task.cancel()
        _ = try? await task.value
        // The stream has no end of its own: finishing at all, and soon, is the cancellation's doing.
        #expect(ContinuousClock.now - start < .seconds(15))
        // The client still works after the stream was torn down.
        _ = try await client.ping()
    }
}
