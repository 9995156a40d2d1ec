import TOMLConfig
import Glibc

/// What the kernel says about its loop devices, read from sysfs: which file backs which device.
///
/// `/sys/block/loopN/loop/backing_file` exists while `loopN` is bound to a file and holds that
/// file's path as this process sees it (with ` (deleted)` appended once it is unlinked).
struct LoopDevices: Sendable {
    /// `/sys/block`; tests point it at a directory of their own.
    var sysBlock: String = "/sys/block"

    /// The device name (`loop3`) of a mount source such as `/dev/loop3`, or nil for other sources.
    static func deviceName(ofSource source: String) -> String? {
        guard source.hasPrefix("/dev/loop") else { return nil }
        let name = source.dropFirst("/dev/".count)
        let number = name.dropFirst("loop".count)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return String(name)
    }

    /// The file backing `device` (`loop3`), or nil when it is not bound (or does not exist).
    func backingFile(of device: String) -> String? {
        guard let text = FileText.read(sysBlock + "/" + device + "/loop/backing_file") else { return nil }
        let path = text.hasSuffix("\n") ? String(text.dropLast()) : text
        return path.isEmpty ? nil : path
    }

    /// Every loop device bound to the file at `path` (normally none or one), sorted by name.
    func devices(backedBy path: String) -> [String] {
        guard let directory = opendir(sysBlock) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("loop"), backingFile(of: name) == path { names.append(name) }
        }
        return names.sorted()
    }
}

/// Reads small text files (sysfs, procfs) whole.
enum FileText {
    /// The file's content, or nil when it cannot be opened or read.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The process's effective capabilities, from `/proc/self/status` (`CapEff`, a hex mask).
enum Capabilities {
    /// `CAP_SYS_RESOURCE` (capability.h): ext4's online resize checks it.
    static let sysResource = 24

    static func effective(_ capability: Int, status: String? = FileText.read("/proc/self/status")) -> Bool {
        guard let line = status?.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingWhitespace, radix: 16)
        else { return false }
        return mask & (1 << UInt64(capability)) != 0
    }
}
