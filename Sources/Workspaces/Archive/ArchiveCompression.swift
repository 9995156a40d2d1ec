/// How an archive download is compressed. Uploads detect theirs (none, gzip, zstd, ...).
public enum ArchiveCompression: String, Sendable, CaseIterable {
    case none, gzip, zstd

    public var mediaType: String {
        switch self {
        case .none: "application/x-tar"
        case .gzip: "application/gzip"
        case .zstd: "application/zstd"
        }
    }
}

/// What an archive download or upload held.
public struct ArchiveSummary: Sendable, Equatable {
    public var entries: Int
    /// Bytes of file content.
    public var bytes: Int64
}
