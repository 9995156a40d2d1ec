import Foundation
import TerminalScreen

#if canImport(Glibc)
import Glibc
#endif

extension BenchReport {
    /// The repaint of a full screen (`screen` section): what a new or slow viewer gets first.
    public struct Screen: Sendable, Codable, Equatable {
        public var columns: Int
        public var rows: Int
        /// The colour and attributes change every this many cells.
        public var penRun: Int
        /// The repaint's length.
        public var repaintBytes: Int
        /// Building it, wall time (microseconds).
        public var build: LatencySummary
        /// Building it, CPU time of the building thread (microseconds).
        public var buildCPU: LatencySummary

        public init(columns: Int, rows: Int, penRun: Int, repaintBytes: Int, build: LatencySummary, buildCPU: LatencySummary) {
            self.columns = columns
            self.rows = rows
            self.penRun = penRun
            self.repaintBytes = repaintBytes
            self.build = build
            self.buildCPU = buildCPU
        }
    }
}

/// Measures the repaint in this process: the same libvterm model the daemon keeps per session.
enum ScreenBench {
    /// A `columns` x `rows` screen with a character in every cell and the colour and attributes
    /// changing every `run` cells (syntax-highlighted code in an editor is runs of a few cells;
    /// `run` 1 is the worst case, a different pen in every cell).
    static func measure(columns: Int = 200, rows: Int = 60, run: Int = 6, samples: Int = 500) -> BenchReport.Screen {
        let model = VTermScreenModel(size: ScreenSize(columns: columns, rows: rows))
        var text = ""
        for row in 0..<rows {
            text += "\u{1b}[\(row + 1);1H"
            for column in 0..<columns {
                let index = row * columns + column
                if index % run == 0 {
                    let pen = index / run
                    text += "\u{1b}[0;\(pen % 2 == 0 ? "1" : "4");38;5;\(pen % 256);48;5;\((pen * 7) % 256)m"
                }
                text += String(UnicodeScalar(UInt8(33 + index % 94)))
            }
        }
        Array(text.utf8).withUnsafeBytes { model.feed($0) }
        var wall: [Double] = []
        var cpu: [Double] = []
        var size = 0
        for _ in 0..<samples {
            let cpuStart = threadCPUMicroseconds()
            let start = ContinuousClock.now
            size = model.repaint().count
            wall.append((ContinuousClock.now - start).microseconds)
            cpu.append(threadCPUMicroseconds() - cpuStart)
        }
        return .init(
            columns: columns, rows: rows, penRun: run, repaintBytes: size, build: LatencySummary(microseconds: wall)!,
            buildCPU: LatencySummary(microseconds: cpu)!)
    }

    private static func threadCPUMicroseconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) / 1e3
    }
}
