/// The rules for a workspace name: one path component of `[A-Za-z0-9._-]`, 1 to 128 bytes, not `.`
/// or `..`. So a name can never be absolute, climb out of the workspace root, or hold a NUL.
public enum WorkspaceName {
    public static let maxLength = 128

    /// What is wrong with `name`, or nil when it is a valid workspace name.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty || bytes.count > maxLength { return "must be 1 to \(maxLength) bytes long" }
        if name == "." || name == ".." { return "\".\" and \"..\" are not workspace names" }
        if bytes.contains(UInt8(ascii: "/")) { return "must be a single path component (no \"/\")" }
        let allowed = bytes.allSatisfy { $0.isASCIIAlnum || $0.isOne(of: "._-") }
        return allowed ? nil : "may contain only letters, digits, \".\", \"_\" and \"-\""
    }
}
