/// Byte classes for the names we validate (profile names, image references, env keys, labels).
/// All ASCII: a name with any other byte is refused.
extension UInt8 {
    package var isASCIIDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
    package var isUppercaseLetter: Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) }
    package var isLowerAlnum: Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || isASCIIDigit }
    package var isASCIIAlnum: Bool { isLowerAlnum || isUppercaseLetter }

    /// Whether the byte is one of `characters` (ASCII only).
    package func isOne(of characters: String) -> Bool { characters.utf8.contains(self) }
}

extension Character {
    package var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    package var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
