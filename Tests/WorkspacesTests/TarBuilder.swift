/// Builds ustar archives byte by byte, so that tests can make the hostile ones no tool would.
struct TarBuilder {
    private(set) var bytes: [UInt8] = []

    enum Kind: UInt8 {
        case file = 48, hardLink = 49, symlink = 50, charDevice = 51, blockDevice = 52, directory = 53, fifo = 54
    }

    mutating func add(_ name: String, _ kind: Kind = .file, mode: UInt32 = 0o644, content: [UInt8] = [], link: String = "", mtime: Int = 1_700_000_000) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (index, byte) in text.utf8.prefix(width).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let text = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - text.count)) + text, at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(Int(mode), at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(kind == .file ? content.count : 0, at: 124, width: 12)
        octal(mtime, at: 136, width: 12)
        header[156] = kind.rawValue
        put(link, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        for index in 148..<156 { header[index] = 32 }
        octal(header.reduce(0) { $0 + Int($1) }, at: 148, width: 7)
        bytes += header
        if kind == .file {
            bytes += content
            bytes += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
        }
    }

    /// The archive with its end (two zero blocks).
    var archive: [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}
