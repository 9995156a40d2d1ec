extension BenchReport {
    /// Workspace files: a 1 MiB file read and written over the API (wall time per request, and
    /// the daemon's CPU time per request), and a tree of small files downloaded as a tar beside
    /// `tar -c` of the same directory on the same host.
    public struct Files: Sendable, Codable, Equatable {
        public var fileBytes: Int
        public var read: LatencySummary
        public var write: LatencySummary
        /// The daemon's user+system CPU per request, microseconds; nil when it is not on this host.
        public var readCPUMicroseconds: Double?
        public var writeCPUMicroseconds: Double?
        public var treeFiles: Int
        public var archiveBytes: Int
        /// Median over the rounds, seconds.
        public var archiveSeconds: Double
        /// `tar -c` of the same tree (median), seconds; nil when the workspace is not on this host.
        public var tarSeconds: Double?
        /// CPU per download: the daemon's, and tar's (user+system), seconds.
        public var archiveCPUSeconds: Double?
        public var tarCPUSeconds: Double?

        /// Download speed over `tar -c`'s (>= 1: as fast or faster).
        public var archiveRatio: Double? { tarSeconds.map { $0 / archiveSeconds } }

        /// The table's rows: latencies through `row`, then the archive comparison.
        func tableLines(_ row: (String, LatencySummary, Double, String) -> Void) -> [String] {
            row("file write, \(fileBytes >> 10) KiB", write, 1000, "ms")
            row("file read, \(fileBytes >> 10) KiB", read, 1000, "ms")
            return [
                String(
                    format: "archive of %d files (%d bytes): daemon %.0f ms, tar -c %@", treeFiles, archiveBytes, archiveSeconds * 1000,
                    tarSeconds.map { String(format: "%.0f ms", $0 * 1000) } ?? "not measured (daemon not on this host)")
            ]
        }
    }
}

extension Targets {
    /// Read and write of 1 MiB: p50 at most 5 ms each; archive download at least 0.8x `tar -c`.
    func filesVerdicts(_ files: BenchReport.Files?) -> [BenchReport.Verdict] {
        guard let files else { return [] }
        var verdicts: [BenchReport.Verdict] = []
        for (name, summary, cpu) in [("read", files.read, files.readCPUMicroseconds), ("write", files.write, files.writeCPUMicroseconds)] {
            let p50 = summary.p50 / 1000
            verdicts.append(
                .init(
                    target: "files.\(name)_p50", status: p50 <= 5 ? .pass : .fail, measured: p50, limit: 5, unit: "ms",
                    detail: "\(files.fileBytes) bytes, \(summary.count) requests"
                        + (cpu.map { String(format: "; daemon CPU %.0f us per request", $0) } ?? "")))
        }
        if let ratio = files.archiveRatio {
            verdicts.append(
                .init(
                    target: "files.archive_ratio", status: ratio >= 0.8 ? .pass : .fail, measured: ratio, limit: 0.8, unit: "x tar -c",
                    detail: String(
                        format: "%d files, %d bytes: %.0f ms (daemon CPU %.0f ms) vs tar -c %.0f ms (CPU %.0f ms)", files.treeFiles,
                        files.archiveBytes, files.archiveSeconds * 1000, (files.archiveCPUSeconds ?? 0) * 1000,
                        (files.tarSeconds ?? 0) * 1000, (files.tarCPUSeconds ?? 0) * 1000)))
        }
        return verdicts
    }
}
