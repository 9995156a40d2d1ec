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

    /// The calling thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`).
    static func callingThreadMicroseconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) * 1e6 + Double(now.tv_nsec) / 1e3
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

    /// The run time of `pid`'s threads alive now (`/proc/PID/task/*/schedstat`), without their
    /// names: cheaper than ``threads(pid:)``, which also reads every thread's `comm`, when only
    /// the total counts (the client's every window, every process of the machine's).
    static func schedulerMicroseconds(pid: Int32) -> Double? {
        let times = threadMicroseconds(pid: pid)
        return times.isEmpty ? nil : times.values.reduce(0, +)
    }

    /// The run time of each of `pid`'s threads alive now, by thread id.
    static func threadMicroseconds(pid: Int32) -> [String: Double] {
        let tids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var times: [String: Double] = [:]
        for tid in tids {
            guard let line = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/schedstat", encoding: .utf8),
                let first = line.split(whereSeparator: \.isWhitespace).first, let nanoseconds = Double(first)
            else { continue }
            times[tid] = nanoseconds / 1000
        }
        return times
    }

    /// What `pid`'s threads ran while `body` ran: each thread's run time now less its run time
    /// before (all of it for a thread started meanwhile). Over seconds of an idle daemon, where
    /// dispatch's idle threads exit, this stays exact where a sum over the threads alive at each
    /// end would lose an exited thread's whole life; a thread that exits inside the window takes
    /// only its time in the window with it.
    static func spentByThreads(pid: Int32, _ body: () async throws -> Void) async rethrows -> Double {
        let before = threads(pid: pid)
        try await body()
        guard let before, let after = threads(pid: pid) else { return 0 }
        return after.since(before).microseconds
    }

    /// A process's threads alive now, read once: each one's run time, group (its name, `comm`,
    /// with the digits dropped, so that `NIO-ELT-0-#1` and `NIO-ELT-0-#0` count as one
    /// `NIO-ELT--#`) and how many times the scheduler put it on a CPU (`schedstat`'s third field:
    /// each a wake-up or a preemption; a count, which does not move with the machine's speed).
    struct Threads {
        struct Thread {
            var group: String
            var microseconds: Double
            var slices: Double
        }

        /// By thread id.
        var byID: [String: Thread] = [:]

        var microseconds: Double { byID.values.reduce(0) { $0 + $1.microseconds } }
        var slices: Double { byID.values.reduce(0) { $0 + $1.slices } }
        var groups: [String: Double] { byID.values.reduce(into: [:]) { $0[$1.group, default: 0] += $1.microseconds } }
        var groupSlices: [String: Double] { byID.values.reduce(into: [:]) { $0[$1.group, default: 0] += $1.slices } }

        /// What the threads alive now did since `before`: each one's figures less its figures
        /// then (all of them for a thread started since). A thread that ended in between is on
        /// neither side, so its earlier life never comes off the others' time, as a difference
        /// of the two totals would make it (down to less than zero when dispatch retires an
        /// idle worker thread inside the window).
        func since(_ before: Threads) -> Threads {
            var spent = Threads()
            for (id, thread) in byID {
                let earlier = before.byID[id]
                spent.byID[id] = Thread(
                    group: thread.group, microseconds: thread.microseconds - (earlier?.microseconds ?? 0),
                    slices: thread.slices - (earlier?.slices ?? 0))
            }
            return spent
        }
    }

    /// `/proc/PID/task/*/schedstat` and `comm`; nil when there are no threads to read.
    static func threads(pid: Int32) -> Threads? {
        guard let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !tids.isEmpty else {
            return nil
        }
        var threads = Threads()
        for tid in tids {
            let directory = "/proc/\(pid)/task/\(tid)/"
            guard let line = try? String(contentsOfFile: directory + "schedstat", encoding: .utf8) else { continue }
            let fields = line.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
            guard fields.count >= 3 else { continue }
            let name = ((try? String(contentsOfFile: directory + "comm", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines).filter { !$0.isNumber }
            threads.byID[tid] = Threads.Thread(group: name, microseconds: fields[0] / 1000, slices: fields[2])
        }
        return threads
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
    /// How the daemon's CPU is read: by default (nil) from the threads alive now, the snapshot
    /// the split by thread comes from (fine-grained; `/proc/PID/stat` when the kernel keeps no
    /// per-thread times); ``ProcessCPU/statMicroseconds(pid:)`` (10 ms ticks, but counting
    /// threads that exited) where the daemon starts a thread per operation, as archives do.
    let daemonClock: (@Sendable (Int32) -> Double?)?
    /// Whether a profiler the bench controls (``ProfilerControl``) samples these windows.
    let profiled: Bool
    /// Whether the rest of the machine is split into the engine's and the containers' processes
    /// (``MachineProcesses``): two readings of all of `/proc` per window, outside the window.
    let splitsRest: Bool
    private(set) var daemonMicroseconds = 0.0
    private(set) var clientMicroseconds = 0.0
    private(set) var machineMicroseconds = 0.0
    private(set) var others = MachineProcesses()
    private(set) var threadGroupMicroseconds: [String: Double] = [:]
    private(set) var daemonSlices = 0.0
    private(set) var groupSlices: [String: Double] = [:]
    private(set) var operations = 0

    init(daemonPID: Int32?, daemonClock: (@Sendable (Int32) -> Double?)? = nil, profiled: Bool = true, splitsRest: Bool = false) {
        self.daemonPID = daemonPID
        self.daemonClock = daemonClock
        self.profiled = profiled
        self.splitsRest = splitsRest
    }

    /// Runs `body` (which performs `count` operations) and adds the CPU both sides spent in it.
    mutating func measure<T>(count: Int = 1, _ body: () async throws -> T) async rethrows -> T {
        let processesBefore = splitsRest ? MachineProcesses.readProcesses() : [:]
        if profiled { ProfilerControl.send("enable") }
        let threadsBefore = daemonPID.flatMap(ProcessCPU.threads(pid:))
        let daemonBefore = daemonPID.flatMap { daemonTime($0, threadsBefore) }
        let clientBefore = ProcessCPU.ownMicroseconds()
        let machineBefore = ProcessCPU.machineMicroseconds()
        let result: T
        do {
            result = try await body()
        } catch {
            if profiled { ProfilerControl.send("disable") }
            throw error
        }
        if let machineBefore, let after = ProcessCPU.machineMicroseconds() { machineMicroseconds += after - machineBefore }
        if let daemonBefore, let pid = daemonPID {
            let threadsAfter = ProcessCPU.threads(pid: pid)
            let spent = threadsBefore.flatMap { threadsAfter?.since($0) }
            if daemonClock == nil, let spent {
                daemonMicroseconds += spent.microseconds
            } else if let after = daemonTime(pid, threadsAfter) {
                daemonMicroseconds += after - daemonBefore
            }
            if let spent {
                threadGroupMicroseconds.merge(spent.groups, uniquingKeysWith: +)
                daemonSlices += spent.slices
                groupSlices.merge(spent.groupSlices, uniquingKeysWith: +)
            }
        }
        if let clientBefore, let after = ProcessCPU.ownMicroseconds() { clientMicroseconds += after - clientBefore }
        if profiled { ProfilerControl.send("disable") }
        if splitsRest {
            let spent = MachineProcesses.spent(
                from: processesBefore, to: MachineProcesses.readProcesses(), excluding: Set([daemonPID, getpid()].compactMap { $0 }))
            others.engineMicroseconds += spent.engineMicroseconds
            others.containerMicroseconds += spent.containerMicroseconds
        }
        operations += count
        return result
    }

    private func daemonTime(_ pid: Int32, _ threads: ProcessCPU.Threads?) -> Double? {
        if let daemonClock { return daemonClock(pid) }
        return threads?.microseconds ?? ProcessCPU.statMicroseconds(pid: pid)
    }

    /// Per operation, for the report; nil when nothing was measured.
    var perOperation: BenchReport.CPUPerOperation? {
        guard operations > 0 else { return nil }
        let perOperation = { (total: Double) in total / Double(operations) }
        return .init(
            daemonMicroseconds: daemonPID == nil ? nil : perOperation(daemonMicroseconds),
            clientMicroseconds: perOperation(clientMicroseconds),
            restMicroseconds: max(0, perOperation(machineMicroseconds - daemonMicroseconds - clientMicroseconds)),
            daemonThreads: threadGroupMicroseconds.isEmpty ? nil : threadGroupMicroseconds.mapValues(perOperation),
            daemonWakeups: daemonPID == nil || daemonSlices <= 0 ? nil : perOperation(daemonSlices),
            daemonThreadWakeups: groupSlices.isEmpty ? nil : groupSlices.mapValues(perOperation),
            engineMicroseconds: splitsRest ? perOperation(others.engineMicroseconds) : nil,
            containerMicroseconds: splitsRest ? perOperation(others.containerMicroseconds) : nil,
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
        /// The wake-ups split by thread group, as ``daemonThreads`` splits the CPU.
        public var daemonThreadWakeups: [String: Double]?
        /// Of the rest of the machine, the engine's processes (`dockerd`, `containerd`, shims) and
        /// the containers' (the gate, the session's command), where the section splits it.
        public var engineMicroseconds: Double?
        public var containerMicroseconds: Double?
        public var operations: Int

        public init(
            daemonMicroseconds: Double?, clientMicroseconds: Double, restMicroseconds: Double? = nil,
            daemonThreads: [String: Double]? = nil, daemonWakeups: Double? = nil,
            daemonThreadWakeups: [String: Double]? = nil, engineMicroseconds: Double? = nil,
            containerMicroseconds: Double? = nil, operations: Int
        ) {
            self.daemonMicroseconds = daemonMicroseconds
            self.clientMicroseconds = clientMicroseconds
            self.restMicroseconds = restMicroseconds
            self.daemonThreads = daemonThreads
            self.daemonWakeups = daemonWakeups
            self.daemonThreadWakeups = daemonThreadWakeups
            self.engineMicroseconds = engineMicroseconds
            self.containerMicroseconds = containerMicroseconds
            self.operations = operations
        }

        /// "daemon CPU 812 us, client CPU 640 us, rest of the machine 2100 us (containers 900 us,
        /// engine 40 us), 20 daemon thread wake-ups per launch (daemon threads, us: …)"
        func describe(_ what: String) -> String {
            let daemon = daemonMicroseconds.map { String(format: "daemon CPU %.0f us, ", $0) } ?? ""
            var rest = restMicroseconds.map { String(format: ", rest of the machine %.0f us", $0) } ?? ""
            if let containerMicroseconds, let engineMicroseconds {
                rest += String(format: " (containers %.0f us, engine %.0f us)", containerMicroseconds, engineMicroseconds)
            }
            let wakeups = daemonWakeups.map { String(format: ", %.0f daemon thread wake-ups", $0) } ?? ""
            let threads = (daemonThreads ?? [:]).filter { $0.value >= 1 }.sorted { $0.value > $1.value }
                .map { "\($0.key) " + String(format: "%.0f", $0.value) }
            let woken = (daemonThreadWakeups ?? [:]).filter { $0.value >= 0.5 }.sorted { $0.value > $1.value }
                .map { "\($0.key) " + String(format: "%.0f", $0.value) }
            let breakdown = (threads.isEmpty ? "" : " (daemon threads, us: " + threads.joined(separator: ", ") + ")")
                + (woken.isEmpty ? "" : " (wake-ups: " + woken.joined(separator: ", ") + ")")
            return daemon + String(format: "client CPU %.0f us", clientMicroseconds) + rest + wakeups + " per " + what + breakdown
        }
    }
}

/// Lets `perf record` sample only the windows the bench measures: with
/// `SANDCASTLE_BENCH_PERF_CONTROL` naming the control FIFO of a `perf record --control=fifo:PATH
/// --delay=-1` (started disabled), every measured window enables it and disables it after, so a
/// profile of the warm launches holds no refill and no clean-up between rounds.
///
/// `PATH,ACK` names perf's acknowledgement FIFO too (`--control=fifo:PATH,ACK`): the bench then
/// waits for the profiler's `ack` after each command, so a window starts only once the profiler is
/// on. Any profiler that speaks this protocol works: `scripts/callgrind` answers for callgrind.
enum ProfilerControl {
    private static let descriptors: (control: Int32, ack: Int32?)? = {
        guard let value = ProcessInfo.processInfo.environment["SANDCASTLE_BENCH_PERF_CONTROL"] else { return nil }
        let paths = value.split(separator: ",", maxSplits: 1).map(String.init)
        guard let controlPath = paths.first else { return nil }
        let control = open(controlPath, O_WRONLY | O_CLOEXEC)
        guard control >= 0 else { return nil }
        let ack = paths.count > 1 ? open(paths[1], O_RDONLY | O_CLOEXEC) : -1
        return (control, ack >= 0 ? ack : nil)
    }()

    static func send(_ command: String) {
        guard let descriptors else { return }
        let line = Array((command + "\n").utf8)
        _ = line.withUnsafeBytes { write(descriptors.control, $0.baseAddress, $0.count) }
        guard let ack = descriptors.ack else { return }
        // The answer is one line ("ack\n"); read it up to its newline.
        var byte: UInt8 = 0
        while read(ack, &byte, 1) == 1, byte != UInt8(ascii: "\n") {}
    }
}
