/// Hex and base64url, written out here because tokens need a *strict* decoder: exactly one text
/// for each byte string, so that changing any character of a token changes what it decodes to.
/// (Foundation's base64 decoder accepts padding, ignores nothing useful to us and lets the unused
/// low bits of the last character vary.) Public for the API's cursors and percent-decoding.
public enum ByteEncoding {
    @usableFromInline static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex. Inlinable, so that other modules' calls are specialized for their sequence
    /// (unspecialized, hex of a 32-byte digest cost 18,000 instructions).
    @inlinable public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex in either case; nil for an odd length or a character that is not a hex digit.
    static func bytes(fromHex text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = hexValue(chars[index]), let low = hexValue(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// The value of one hex digit in either case; nil for any other byte.
    public static func hexValue(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// base64url (RFC 4648 §5) without padding.
    public static func base64URL(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let remaining = bytes.count - index
            let b0 = UInt32(bytes[index])
            let b1 = remaining > 1 ? UInt32(bytes[index + 1]) : 0
            let b2 = remaining > 2 ? UInt32(bytes[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            let produced = min(remaining, 3) + 1
            for position in 0..<produced {
                let sextet = (group >> UInt32(18 - 6 * position)) & 0x3F
                out.append(base64URLAlphabet[Int(sextet)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict base64url without padding: only the 64 alphabet characters, no `=`, no whitespace,
    /// a length that some byte string encodes to, and zero unused bits in the last character.
    /// So `base64URL(decoded) == text` whenever this returns non-nil.
    public static func bytes(fromBase64URL text: Substring) -> [UInt8]? {
        let chars = text.utf8
        let count = chars.count
        guard count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for char in chars {
            guard let value = base64URLValue(char) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits (2 or 4) are padding of the last character: they must be zero.
        guard accumulator == 0 else { return nil }
        return out
    }

    private static func base64URLValue(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): char - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): char - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }
}
