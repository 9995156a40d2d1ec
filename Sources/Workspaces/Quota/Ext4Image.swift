import SandboxPolicy

/// The arithmetic and naming of a workspace's ext4 image. Pure: no I/O.
enum Ext4Image {
    /// The smallest limit, the profile rule's minimum (`workspace_size >= 16 MiB`). Below it the
    /// journal and metadata leave little room for files.
    static let minimumBytes: Int64 = 16 << 20
    /// The block size every image is formatted with (`mkfs.ext4 -b 4096`), so an image's size is a
    /// whole number of blocks.
    static let blockSize: Int64 = 4096
    /// ext4's limit with 4 KiB blocks and the 64bit feature is far above this; a larger request is
    /// a mistake in a profile.
    static let maximumBytes: Int64 = 16 << 40

    /// The image file's name for the workspace `name`: `<name>.ext4`. Workspace names are one path
    /// component of `[A-Za-z0-9._-]`, at most 128 bytes, so this is one too.
    static func fileName(forWorkspace name: String) -> String {
        name + ".ext4"
    }

    /// The name a new image is formatted under before it is renamed into place, so a crash during
    /// `mkfs` never leaves a half-made image under the real name. Real names end in `.ext4`, these
    /// in `.ext4.new`: the two never collide.
    static func temporaryFileName(forWorkspace name: String) -> String {
        fileName(forWorkspace: name) + ".new"
    }

    /// The image size for a limit: the limit rounded down to whole blocks, so the file system never
    /// holds more than `limit` bytes (its own metadata included: files get somewhat less).
    ///
    /// - Returns: nil when the limit is below `minimumBytes` or above `maximumBytes`.
    static func imageBytes(forLimit limit: Int64) -> Int64? {
        guard limit >= minimumBytes, limit <= maximumBytes else { return nil }
        return limit - limit % blockSize
    }

    /// `resize2fs`'s size argument for `bytes`, in KiB (`65536K`): exact for whole blocks.
    static func resizeArgument(_ bytes: Int64) -> String {
        "\(bytes / 1024)K"
    }
}

/// The few fields of an ext4 superblock (the 1024 bytes at offset 1024 of the image) the limiter
/// reads: the file system's size and how much of it is free. Layout from the kernel's
/// `fs/ext4/ext4.h` (`struct ext4_super_block`), all little-endian.
struct Ext4Superblock: Sendable, Equatable {
    /// Where the superblock starts in the image, and how long it is.
    static let offset: Int64 = 1024
    static let length = 1024
    static let magic: UInt16 = 0xEF53
    /// `EXT4_FEATURE_INCOMPAT_64BIT`: the block counts have a high half.
    static let incompat64Bit: UInt32 = 0x80

    var blockSize: Int64
    var blockCount: Int64
    var freeBlockCount: Int64

    var sizeBytes: Int64 { blockSize * blockCount }
    var usedBytes: Int64 { blockSize * (blockCount - freeBlockCount) }

    /// Parses the superblock; nil when the bytes are not one (wrong length or magic, or an
    /// impossible block size).
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.length, Self.read16(bytes, 0x38) == Self.magic else { return nil }
        let logBlockSize = Self.read32(bytes, 0x18)
        guard logBlockSize <= 6 else { return nil }
        blockSize = Int64(1024) << logBlockSize
        let wide = Self.read32(bytes, 0x60) & Self.incompat64Bit != 0
        blockCount = Int64(Self.read32(bytes, 0x04)) | (wide ? Int64(Self.read32(bytes, 0x150)) << 32 : 0)
        freeBlockCount = Int64(Self.read32(bytes, 0x0C)) | (wide ? Int64(Self.read32(bytes, 0x158)) << 32 : 0)
        guard blockCount > 0, freeBlockCount <= blockCount else { return nil }
    }

    private static func read16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    private static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
