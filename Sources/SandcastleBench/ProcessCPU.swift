import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A process's CPU time (user + system), in microseconds.
///
/// From the scheduler's per-thread run time (`/proc/PID/task/*/schedstat`, nanoseconds) when the
/// kernel keeps it, summed over the threads alive now; else from `/proc/PID/stat` (`utime` +
/// `stime`, in clock ticks of 10 ms, which includes threads that have exited). Long-lived threads
/// (event loops, the cooperative pool) do the daemon's work, so the two agree over a section;
/// the first is fine enough to be divided by a few dozen launches.
enum ProcessCPU {
    static func microseconds(pid: Int32) -> Double? {
        schedulerMicroseconds(pid: pid) ?? statMicroseconds(pid: pid)
    }

    /// This process (the bench client).
    static func ownMicroseconds() -> Double? {
        microseconds(pid: getpid())
    }

    /// The whole machine's busy CPU time (every core): `/proc/stat`'s first line, all but idle
    /// and iowait, in clock ticks.
    static func machineMicroseconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return busy * 1e6 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func schedulerMicroseconds(pid: Int32) -> Double? {
        threadRunTimes(pid: pid).map { $0.reduce(0) { $0 + $1.microseconds } }
    }

    /// The scheduler's run time per group of threads alive now: a thread's name (`comm`) with its
    /// digits dropped, so that `NIO-ELT-0-#1` and `NIO-ELT-0-#0` count as one `NIO-ELT--#`.
    static func threadGroupMicroseconds(pid: Int32) -> [String: Double] {
        var groups: [String: Double] = [:]
        for thread in threadRunTimes(pid: pid) ?? [] {
            groups[String(thread.name.filter { !$0.isNumber }), default: 0] += thread.microseconds
        }
        return groups
    }

    /// How many times the scheduler put a thread of `pid` (those alive now) on a CPU: each is a
    /// wake-up or a preemption. A count, not a time: it does not move with the machine's speed.
    static func scheduledSlices(pid: Int32) -> Double? {
        threadRunTimes(pid: pid).map { $0.reduce(0) { $0 + $1.slices } }
    }

    /// Each thread alive now: its name, the scheduler's run time and how many times it ran (the
    /// third field of `schedstat`); nil when there are none.
    private static func threadRunTimes(pid: Int32) -> [(name: String, microseconds: Double, slices: Double)]? {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !threads.isEmpty else {
            return nil
        }
        return threads.compactMap { thread in
            let directory = "/proc/\(pid)/task/\(thread)/"
            guard let line = try? String(contentsOfFile: directory + "schedstat", encoding: .utf8) else { return nil }
            let fields = line.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
            guard fields.count >= 3 else { return nil }
            let name = (try? String(contentsOfFile: directory + "comm", encoding: .utf8)) ?? ""
            return (name.trimmingCharacters(in: .whitespacesAndNewlines), fields[0] / 1000, fields[2])
        }
    }

    static func statMicroseconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        // Fields after the command name start at field 3 (state); utime and stime are 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) * 1e6 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// CPU spent by the daemon and by the bench client over some operations.
struct CPUMeter {
    let daemonPID: Int32?
    /// How the daemon's CPU is read: ``ProcessCPU/microseconds(pid:)`` (fine-grained, the threads
    /// alive now) by default; ``ProcessCPU/statMicroseconds(pid:)`` (10 ms ticks, but counting
    /// threads that exited) where the daemon starts a thread per operation, as archives do.
    let daemonClock: @Sendable (Int32) -> Double?
    private(set) var daemonMicroseconds = 0.0
    private(set) var clientMicroseconds = 0.0
    private(set) var machineMicroseconds = 0.0
    private(set) var threadGroupMicroseconds: [String: Double] = [:]
    private(set) var daemonSlices = 0.0
    private(set) var operations = 0

    init(daemonPID: Int32?, daemonClock: @escaping @Sendable (Int32) -> Double? = ProcessCPU.microseconds(pid:)) {
        self.daemonPID = daemonPID
        self.daemonClock = daemonClock
    }

    /// Runs `body` (which performs `count` operations) and adds the CPU both sides spent in it.
    mutating func measure<T>(count: Int = 1, _ body: () async throws -> T) async rethrows -> T {
        let daemonBefore = daemonPID.flatMap(daemonClock)
        let groupsBefore = daemonPID.map(ProcessCPU.threadGroupMicroseconds(pid:)) ?? [:]
        let slicesBefore = daemonPID.flatMap(ProcessCPU.scheduledSlices(pid:))
        let clientBefore = ProcessCPU.ownMicroseconds()
        let machineBefore = ProcessCPU.machineMicroseconds()
        let result = try await body()
        if let machineBefore, let after = ProcessCPU.machineMicroseconds() { machineMicroseconds += after - machineBefore }
        if let daemonBefore, let pid = daemonPID, let after = daemonClock(pid) {
            daemonMicroseconds += after - daemonBefore
            for (group, time) in ProcessCPU.threadGroupMicroseconds(pid: pid) {
                threadGroupMicroseconds[group, default: 0] += time - (groupsBefore[group] ?? 0)
            }
            if let slicesBefore, let slices = ProcessCPU.scheduledSlices(pid: pid) { daemonSlices += slices - slicesBefore }
        }
        if let clientBefore, let after = ProcessCPU.ownMicroseconds() { clientMicroseconds += after - clientBefore }
        operations += count
        return result
    }

    /// Per operation, for the report; nil when nothing was measured.
    var perOperation: BenchReport.CPUPerOperation? {
        guard operations > 0 else { return nil }
        let perOperation = { (total: Double) in total / Double(operations) }
        return .init(
            daemonMicroseconds: daemonPID == nil ? nil : perOperation(daemonMicroseconds),
            clientMicroseconds: perOperation(clientMicroseconds),
            restMicroseconds: daemonPID == nil
                ? nil : max(0, perOperation(machineMicroseconds - daemonMicroseconds - clientMicroseconds)),
            daemonThreads: threadGroupMicroseconds.isEmpty ? nil : threadGroupMicroseconds.mapValues(perOperation),
            daemonWakeups: daemonPID == nil || daemonSlices <= 0 ? nil : perOperation(daemonSlices),
            operations: operations)
    }
}

extension BenchReport {
    /// CPU time per operation: the daemon's (nil when its pid is unknown), the bench client's own
    /// (it shares the machine's cores), and the rest of the machine's busy time in the same
    /// windows: the engine, the container's processes and the kernel on their behalf (and
    /// anything else running, so measure on a quiet machine).
    public struct CPUPerOperation: Sendable, Codable, Equatable {
        public var daemonMicroseconds: Double?
        public var clientMicroseconds: Double
        /// `/proc/stat`'s busy time less the two above, in 10 ms ticks summed over the run.
        public var restMicroseconds: Double?
        /// The daemon's share split by thread group (event loops, the cooperative pool, the
        /// store's queues, the engine's transfer thread): where its CPU goes.
        public var daemonThreads: [String: Double]?
        /// How many times the daemon's threads were put on a CPU (woken, mostly: a hand-off
        /// from one thread to another is one); a count that holds still when the machine's
        /// speed does not. Nil in reports from before it was measured.
        public var daemonWakeups: Double?
        public var operations: Int

        public init(
            daemonMicroseconds: Double?, clientMicroseconds: Double, restMicroseconds: Double? = nil,
            daemonThreads: [String: Double]? = nil, daemonWakeups: Double? = nil, operations: Int
        ) {
            self.daemonMicroseconds = daemonMicroseconds
            self.clientMicroseconds = clientMicroseconds
            self.restMicroseconds = restMicroseconds
            self.daemonThreads = daemonThreads
            self.daemonWakeups = daemonWakeups
            self.operations = operations
        }

        /// "daemon CPU 812 us, client 640 us, rest of the machine 2100 us per launch"
        func describe(_ what: String) -> String {
            let daemon = daemonMicroseconds.map { String(format: "daemon CPU %.0f us, ", $0) } ?? ""
            let rest = restMicroseconds.map { String(format: ", rest of the machine %.0f us", $0) } ?? ""
            let wakeups = daemonWakeups.map { String(format: ", %.0f daemon thread wake-ups", $0) } ?? ""
            let threads = (daemonThreads ?? [:]).filter { $0.value >= 1 }.sorted { $0.value > $1.value }
                .map { "\($0.key) " + String(format: "%.0f", $0.value) }
            let breakdown = threads.isEmpty ? "" : " (daemon threads, us: " + threads.joined(separator: ", ") + ")"
            return daemon + String(format: "client CPU %.0f us", clientMicroseconds) + rest + wakeups + " per " + what + breakdown
        }
    }
}
