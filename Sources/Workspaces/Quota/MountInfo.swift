import Glibc

/// One line of `/proc/<pid>/mountinfo` (proc(5)):
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
///
/// Paths are unescaped: the kernel writes space, tab, newline and backslash in them as `\040`,
/// `\011`, `\012` and `\134`.
struct MountInfoEntry: Sendable, Equatable {
    var mountID: Int
    var parentID: Int
    /// `major:minor` of the mounted device.
    var device: String
    /// The directory of the file system mounted here (`/` for a whole file system).
    var root: String
    var mountPoint: String
    /// Per-mount options (`rw`, `nosuid`, `nodev`, `relatime`, ...).
    var options: [String]
    var fileSystemType: String
    /// The mount source: `/dev/loop3` for a loop mount.
    var source: String
    var superOptions: [String]

    /// Parses one line; nil when it does not have mountinfo's shape.
    init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 10, let separator = fields[6...].firstIndex(of: "-"), separator + 3 < fields.count,
            let mountID = Int(fields[0]), let parentID = Int(fields[1])
        else { return nil }
        self.mountID = mountID
        self.parentID = parentID
        device = String(fields[2])
        root = Self.unescape(fields[3])
        mountPoint = Self.unescape(fields[4])
        options = fields[5].split(separator: ",").map(String.init)
        fileSystemType = Self.unescape(fields[separator + 1])
        source = Self.unescape(fields[separator + 2])
        superOptions = fields[separator + 3].split(separator: ",").map(String.init)
    }

    /// Undoes the kernel's octal escapes (`\040` -> space); anything else stays as it is.
    static func unescape(_ field: Substring) -> String {
        let bytes = Array(field.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\"), index + 3 < bytes.count, let value = octal(bytes[(index + 1)...(index + 3)]) {
                out.append(value)
                index += 4
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }
}

/// The mount table of a mount namespace, as `/proc/self/mountinfo` shows it.
struct MountTable: Sendable, Equatable {
    var entries: [MountInfoEntry]

    init(entries: [MountInfoEntry]) {
        self.entries = entries
    }

    /// Parses the whole text; lines that do not parse are skipped.
    init(text: String) {
        entries = text.split(separator: "\n").compactMap(MountInfoEntry.init(line:))
    }

    /// The mount that is visible at `path` (exactly that mount point, never a parent's): the last
    /// one listed there, since a later mount on the same point hides the earlier ones.
    func topMount(at path: String) -> MountInfoEntry? {
        entries.last { $0.mountPoint == path }
    }

    /// How many mounts are stacked on `path`.
    func mountCount(at path: String) -> Int {
        entries.count { $0.mountPoint == path }
    }
}
