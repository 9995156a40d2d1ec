import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension BenchReport {
    /// What the same fixed work costs on this machine back to back and right after the quiet
    /// wait the bench makes before each warm burst: a walk over a buffer (one byte read and
    /// written per cache line), timed in this thread's CPU time.
    ///
    /// A launch alone (burst 1) costs the daemon about twice the CPU of a launch in a burst, for
    /// the same code paths in the same shares. This says how much of that is the machine: what
    /// its caches and TLBs lose during half a second of idleness (to other tenants, the
    /// hypervisor, the other processes here) has to be fetched again, by any process.
    public struct QuietPenalty: Sendable, Codable, Equatable {
        public var bytes: Int
        /// Median CPU time of one walk, microseconds: walks one after another, and each walk
        /// after a quiet wait.
        public var backToBackMicroseconds: Double
        public var afterQuietMicroseconds: Double
        public var rounds: Int
        /// How many times as much the walk costs after the wait.
        public var ratio: Double { afterQuietMicroseconds / max(backToBackMicroseconds, 0.001) }

        public init(bytes: Int, backToBackMicroseconds: Double, afterQuietMicroseconds: Double, rounds: Int) {
            self.bytes = bytes
            self.backToBackMicroseconds = backToBackMicroseconds
            self.afterQuietMicroseconds = afterQuietMicroseconds
            self.rounds = rounds
        }

        enum CodingKeys: String, CodingKey { case bytes, backToBackMicroseconds, afterQuietMicroseconds, rounds, ratio }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            bytes = try container.decode(Int.self, forKey: .bytes)
            backToBackMicroseconds = try container.decode(Double.self, forKey: .backToBackMicroseconds)
            afterQuietMicroseconds = try container.decode(Double.self, forKey: .afterQuietMicroseconds)
            rounds = try container.decode(Int.self, forKey: .rounds)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(bytes, forKey: .bytes)
            try container.encode(backToBackMicroseconds, forKey: .backToBackMicroseconds)
            try container.encode(afterQuietMicroseconds, forKey: .afterQuietMicroseconds)
            try container.encode(rounds, forKey: .rounds)
            try container.encode(ratio, forKey: .ratio)
        }

        func tableLine() -> String {
            String(
                format: "machine: a walk over %d KiB costs %.0f us of CPU back to back, %.0f us after the quiet wait "
                    + "before each burst (%.1fx, median of %d)", bytes >> 10, backToBackMicroseconds, afterQuietMicroseconds,
                ratio, rounds)
        }

        /// Measures `rounds` walks after `quiet` (the bench's own wait) and as many back to back.
        public static func measure(bytes: Int = 4 << 20, rounds: Int = 16, quiet: () async -> Void) async -> QuietPenalty {
            var buffer = [UInt8](repeating: 1, count: bytes)
            var afterQuiet: [Double] = []
            for _ in 0..<rounds {
                await quiet()
                afterQuiet.append(walk(&buffer))
            }
            _ = walk(&buffer)
            let backToBack = (0..<rounds).map { _ in walk(&buffer) }
            return .init(
                bytes: bytes, backToBackMicroseconds: median(backToBack), afterQuietMicroseconds: median(afterQuiet),
                rounds: rounds)
        }

        /// One walk's CPU time in this thread, microseconds: no suspension point inside, so the
        /// thread is the same at both ends.
        private static func walk(_ buffer: inout [UInt8]) -> Double {
            let start = ProcessCPU.callingThreadMicroseconds()
            buffer.withUnsafeMutableBufferPointer { bytes in
                var sum: UInt8 = 0
                for index in stride(from: 0, to: bytes.count, by: 64) {
                    sum &+= bytes[index]
                    bytes[index] = sum
                }
            }
            return ProcessCPU.callingThreadMicroseconds() - start
        }

        private static func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }
    }
}
