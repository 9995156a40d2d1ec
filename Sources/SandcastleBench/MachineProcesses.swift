import Foundation

/// Who the rest of the machine is: the CPU the processes other than the daemon and the bench
/// client spent in a window, split into the engine's and the containers', from two readings of
/// `/proc`.
///
/// A warm launch costs the machine more than the daemon and the client: the command the pool's
/// gate starts in the container, the engine's processes, the kernel's threads. Reading every
/// process's threads before and after a window tells the first two apart from what remains.
/// A process or thread that exits inside the window is lost to both (it counts as the remainder);
/// one that starts inside it counts from zero, which is what its whole life cost. A process is
/// known by its pid and its start time, not its name: the pool's gate executes the session's
/// command in its own place (a new name, the same process), and what it and `runc`'s set-up in
/// that process spent before the window is not the window's.
struct MachineProcesses: Equatable {
    /// The engine's own processes: `dockerd`, `containerd`, the containers' shims, `runc`.
    var engineMicroseconds = 0.0
    /// Every process beneath a container's shim: the container's init (the pool's gate) and the
    /// command it starts.
    var containerMicroseconds = 0.0

    /// Names (`comm`, at most 15 bytes) of the engine's processes. A shim's is `containerd-shim`.
    static func isEngine(_ name: String) -> Bool {
        name.hasPrefix("dockerd") || name.hasPrefix("containerd") || name == "runc" || name.hasPrefix("docker-proxy")
    }

    /// One process as `/proc/PID/stat` has it.
    struct Process: Equatable {
        var parent: Int32
        var name: String
        /// When it started, in clock ticks since boot: a pid with another start time is another
        /// process that reused the number.
        var started: UInt64
        var microseconds: Double
    }

    /// What the processes of `after` spent since `before` (both by pid), split into the engine's
    /// and the containers', leaving out `excluded`. A pid seen only after started in between.
    static func spent(from before: [Int32: Process], to after: [Int32: Process], excluding excluded: Set<Int32>) -> MachineProcesses {
        var split = MachineProcesses()
        for (pid, process) in after where !excluded.contains(pid) {
            let earlier = before[pid].flatMap { $0.started == process.started ? $0.microseconds : nil } ?? 0
            let spent = max(0, process.microseconds - earlier)
            if underShim(pid, after) {
                split.containerMicroseconds += spent
            } else if isEngine(process.name) {
                split.engineMicroseconds += spent
            }
        }
        return split
    }

    /// Whether one of `pid`'s ancestors (not `pid` itself) is a container's shim.
    private static func underShim(_ pid: Int32, _ processes: [Int32: Process]) -> Bool {
        var current = processes[pid]?.parent ?? 0
        var steps = 0
        while current > 1, let process = processes[current], steps < 64 {
            if process.name.hasPrefix("containerd-shim") { return true }
            current = process.parent
            steps += 1
        }
        return false
    }

    /// Every process in `/proc` with its parent, name and CPU: its threads' run time from
    /// `schedstat` (nanoseconds), or `stat`'s ticks when the kernel keeps no scheduler figures.
    static func readProcesses() -> [Int32: Process] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [:] }
        var processes: [Int32: Process] = [:]
        for entry in entries {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = String(stat[stat.index(after: open)..<close])
            // After the name: state, ppid, ... and the start time, the 22nd field of the line.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 19, let parent = Int32(fields[1]), let started = UInt64(fields[19]) else { continue }
            let cpu = ProcessCPU.microseconds(pid: pid) ?? 0
            processes[pid] = Process(parent: parent, name: name, started: started, microseconds: cpu)
        }
        return processes
    }
}
