/// A path inside a workspace: raw bytes (a sandbox may make names that are not UTF-8), split into
/// components, none empty, `.` or `..`, none with NUL. The empty path is the workspace itself.
public struct WorkspacePath: Sendable, Hashable, CustomStringConvertible {
    /// The longest path accepted, in bytes (PATH_MAX).
    public static let maxBytes = 4096
    /// The longest name accepted, in bytes (NAME_MAX).
    public static let maxNameBytes = 255

    public let components: [[UInt8]]

    public init(components: [[UInt8]]) {
        self.components = components
    }

    /// Parses `bytes`; one leading and one trailing `/` are ignored.
    public init(bytes: some Collection<UInt8>) throws(WorkspaceFileError) {
        var bytes = Array(bytes)
        let display = Self.display(bytes)
        guard bytes.count <= Self.maxBytes else {
            throw WorkspaceFileError(.invalidPath, path: display, "is longer than \(Self.maxBytes) bytes")
        }
        if bytes.first == UInt8(ascii: "/") { bytes.removeFirst() }
        if bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        if bytes.isEmpty {
            components = []
            return
        }
        var parts: [[UInt8]] = []
        for part in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let name = Array(part)
            guard !name.isEmpty else { throw WorkspaceFileError(.invalidPath, path: display, "has an empty component (//)") }
            guard name != [46], name != [46, 46] else {
                throw WorkspaceFileError(.invalidPath, path: display, "has a . or .. component; name paths from the workspace's top")
            }
            guard !name.contains(0) else { throw WorkspaceFileError(.invalidPath, path: display, "contains a NUL byte") }
            guard name.count <= Self.maxNameBytes else {
                throw WorkspaceFileError(.invalidPath, path: display, "has a name longer than \(Self.maxNameBytes) bytes")
            }
            parts.append(name)
        }
        components = parts
    }

    public init(_ string: String) throws(WorkspaceFileError) {
        try self.init(bytes: Array(string.utf8))
    }

    public var isRoot: Bool { components.isEmpty }
    /// The last component (the workspace's top has none).
    public var name: [UInt8]? { components.last }
    public var parent: WorkspacePath { WorkspacePath(components: Array(components.dropLast())) }

    public func appending(_ name: [UInt8]) -> WorkspacePath { WorkspacePath(components: components + [name]) }

    /// Whether `other` is this path or below it.
    public func contains(_ other: WorkspacePath) -> Bool {
        other.components.count >= components.count && Array(other.components.prefix(components.count)) == components
    }

    /// The relative path as a NUL-terminated C string (`.` for the top).
    var cString: [CChar] {
        let joined = components.isEmpty ? [46] : Array(components.joined(separator: [UInt8(ascii: "/")]))
        return joined.map { CChar(bitPattern: $0) } + [0]
    }

    /// `/a/b`, with bytes that are not printable UTF-8 escaped, for messages and logs.
    public var description: String { Self.display(Array(components.joined(separator: [UInt8(ascii: "/")]))).withLeadingSlash }

    static func display(_ bytes: [UInt8]) -> String {
        var text = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                text += "\\x" + String(scalar.value, radix: 16, uppercase: false).leftPadded
            } else {
                text.unicodeScalars.append(scalar)
            }
        }
        return text
    }
}

extension String {
    fileprivate var leftPadded: String { count < 2 ? "0" + self : self }
    fileprivate var withLeadingSlash: String { hasPrefix("/") ? self : "/" + self }
}
