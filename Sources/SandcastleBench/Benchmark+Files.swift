import Foundation
import NIOCore
import SandcastleClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension Benchmark {
    /// The files section: a session fills its workspace with a tree of `archiveFiles` small files;
    /// then 1 MiB writes and reads alternate, and archive downloads of the tree alternate with
    /// `tar -c` of the same directory (when the daemon is on this host).
    func files() async throws -> BenchReport.Files {
        let name = nextName("files")
        let count = options.archiveFiles
        let script = """
            mkdir -p /workspace/tree && cd /workspace/tree && i=0; while [ $i -lt \(count) ]; do d=d$((i / 100)); \
            [ -d $d ] || mkdir $d; echo "file $i of the benchmark tree" > $d/f$i; i=$((i + 1)); done; \
            touch /workspace/ready; exec cat
            """
        let id = try await api.createSession(id: name, image: options.image, profile: options.profile, workspace: name, command: ["sh", "-c", script])
        let client = api.client()
        let deadline = ContinuousClock.now + .seconds(300)
        while (try? await client.stat(workspace: name, path: "/ready")) == nil {
            guard ContinuousClock.now < deadline else { throw BenchError.daemon("the session did not fill its workspace in 5 minutes") }
            try await Task.sleep(for: .milliseconds(200))
        }

        let payload = ByteBuffer(repeating: 0x61, count: options.fileBytes)
        var reads: [Duration] = []
        var writes: [Duration] = []
        // /proc/<pid>/stat, as before: it counts the threads that serve a request and exit.
        var readCPU = CPUMeter(daemonPID: target.pid, daemonClock: ProcessCPU.statMicroseconds(pid:))
        var writeCPU = CPUMeter(daemonPID: target.pid, daemonClock: ProcessCPU.statMicroseconds(pid:))
        let clock = ContinuousClock()
        for _ in 0..<options.fileSamples {
            try await writeCPU.measure {
                let writeStart = clock.now
                let sent = Once(payload)
                _ = try await client.writeFile(workspace: name, path: "/bench.bin", body: sent.next)
                writes.append(clock.now - writeStart)
            }
            var received = 0
            try await readCPU.measure {
                let readStart = clock.now
                try await client.readFile(workspace: name, path: "/bench.bin") { received += $0.readableBytes }
                reads.append(clock.now - readStart)
            }
            guard received == options.fileBytes else { throw BenchError.daemon("read \(received) bytes of \(options.fileBytes)") }
        }

        var archiveTimes: [Double] = []
        var tarTimes: [Double] = []
        var archiveCPU = CPUMeter(daemonPID: target.pid, daemonClock: ProcessCPU.statMicroseconds(pid:))
        var tarCPU = 0.0
        var archiveBytes = 0
        let tree = target.workspaceRoot.map { $0 + "/\(name)/tree" }
        for round in 0..<options.archiveRounds {
            var bytes = 0
            try await archiveCPU.measure {
                let start = clock.now
                try await client.downloadArchive(workspace: name, path: "/tree") { bytes += $0.readableBytes }
                archiveTimes.append((clock.now - start).microseconds / 1e6)
            }
            archiveBytes = bytes
            if let tree {
                let (seconds, cpu, tarBytes) = try await Self.tarCreate(tree)
                tarTimes.append(seconds)
                tarCPU += cpu
                logger.info("archive round", metadata: ["round": "\(round + 1)", "daemon.ms": "\(Int(archiveTimes.last! * 1000))", "tar.ms": "\(Int(seconds * 1000))", "tar.bytes": "\(tarBytes)", "daemon.bytes": "\(bytes)"])
            }
        }
        try await api.removeSession(id)
        let rounds = Double(options.archiveRounds)
        return BenchReport.Files(
            fileBytes: options.fileBytes, read: try summary(reads, "file read"), write: try summary(writes, "file write"),
            readCPUMicroseconds: readCPU.perOperation?.daemonMicroseconds,
            writeCPUMicroseconds: writeCPU.perOperation?.daemonMicroseconds, treeFiles: count,
            archiveBytes: archiveBytes, archiveSeconds: Self.median(archiveTimes), tarSeconds: tarTimes.isEmpty ? nil : Self.median(tarTimes),
            archiveCPUSeconds: archiveCPU.perOperation?.daemonMicroseconds.map { $0 / 1e6 }, tarCPUSeconds: tarTimes.isEmpty ? nil : tarCPU / rounds)
    }

    static func median(_ values: [Double]) -> Double { LatencySummary.percentile(50, ofSorted: values.sorted()) }

    /// `tar -c -f - -C tree .` read to the end through a pipe (as the API's body is): wall seconds,
    /// tar's CPU seconds, bytes. Off the cooperative pool.
    static func tarCreate(_ tree: String) async throws -> (Double, Double, Int) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    var before = rusage()
                    getrusage(RUSAGE_CHILDREN.rawValue, &before)
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    process.arguments = ["tar", "-c", "-f", "-", "-C", tree, "."]
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    let start = ContinuousClock.now
                    try process.run()
                    var bytes = 0
                    let fd = pipe.fileHandleForReading.fileDescriptor
                    var buffer = [UInt8](repeating: 0, count: 256 << 10)
                    while true {
                        let count = read(fd, &buffer, buffer.count)
                        if count < 0, errno == EINTR { continue }
                        if count <= 0 { break }
                        bytes += count
                    }
                    process.waitUntilExit()
                    let seconds = (ContinuousClock.now - start).microseconds / 1e6
                    var after = rusage()
                    getrusage(RUSAGE_CHILDREN.rawValue, &after)
                    func total(_ usage: rusage) -> Double {
                        Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
                    }
                    guard process.terminationStatus == 0 else { throw BenchError.daemon("tar -c -C \(tree) failed") }
                    return (seconds, total(after) - total(before), bytes)
                })
            }.start()
        }
    }
}

/// A request body of one buffer.
private final class Once: Sendable {
    private let buffer: Mutex<ByteBuffer?>
    init(_ buffer: ByteBuffer) { self.buffer = Mutex(buffer) }
    @Sendable func next() async throws -> ByteBuffer? { buffer.withLock { value in defer { value = nil }; return value } }
}
