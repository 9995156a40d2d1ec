/// An image as a request names it: `name:tag`, `name@sha256:<hex>` or both. A bare name (which
/// Docker would read as `:latest`) is refused: the image a session runs must be explicit.
///
/// No normalisation happens: `python:3.12` is not rewritten to `docker.io/library/python:3.12`, so
/// profiles write their patterns the way requests write images.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let tag: String?
    /// `sha256:` followed by 64 lowercase hex digits.
    public let digest: String?

    public var description: String {
        name + (tag.map { ":\($0)" } ?? "") + (digest.map { "@\($0)" } ?? "")
    }

    /// Parses `text`, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<ImageReference, ImageReferenceError> {
        ImageGrammar(allowWildcards: false).parse(text).map {
            ImageReference(name: $0.name, tag: $0.tag, digest: $0.digest)
        }
    }
}

/// A pattern from a profile's `images.allow`: an image reference in which `*` stands for any run of
/// characters other than `/`, `:` and `@`. `registry.example/sandcastle/*:*` allows every tag of
/// every image directly under `registry.example/sandcastle/`; `sandcastle/agent@sha256:*` allows
/// that image by digest only.
public struct ImagePattern: Sendable, Hashable, CustomStringConvertible {
    public let text: String

    public var description: String { text }

    /// Parses a pattern, refusing one without a tag or digest, or one whose name is all wildcards.
    public static func parse(_ text: String) -> Result<ImagePattern, ImageReferenceError> {
        ImageGrammar(allowWildcards: true).parse(text).flatMap { parts in
            let literalComponent = parts.name.split(separator: "/").contains { !$0.contains("*") }
            guard literalComponent else {
                return .failure(
                    ImageReferenceError(
                        text: text,
                        message: "the name is only wildcards; name at least one repository component literally"))
            }
            return .success(ImagePattern(text: text))
        }
    }

    public func matches(_ image: ImageReference) -> Bool {
        Glob.matches(pattern: Array(text.utf8), Array(image.description.utf8))
    }
}

public struct ImageReferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var message: String

    public var description: String { "image \"\(text)\": \(message)" }
}

/// The reference grammar, a strict subset of Docker's, shared by references and patterns.
private struct ImageGrammar {
    var allowWildcards: Bool

    struct Parts {
        var name: String
        var tag: String?
        var digest: String?
    }

    func parse(_ text: String) -> Result<Parts, ImageReferenceError> {
        func fail(_ message: String) -> Result<Parts, ImageReferenceError> {
            .failure(ImageReferenceError(text: text, message: message))
        }
        guard !text.isEmpty, text.utf8.count <= 512 else { return fail("empty, or longer than 512 bytes") }
        // Searched and split by bytes: the separators are ASCII, and by `Character` the parse cost a
        // launch more than the rest of the request's checks together.
        var rest = Substring(text)
        var digest: String?
        if let at = rest.utf8.firstIndex(of: UInt8(ascii: "@")) {
            let value = rest[rest.utf8.index(after: at)...]
            guard isDigest(value) else {
                return fail("the digest must be sha256: followed by 64 lowercase hex digits")
            }
            digest = String(value)
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.utf8.lastIndex(of: UInt8(ascii: ":")), !rest.utf8[colon...].contains(UInt8(ascii: "/")) {
            let value = rest[rest.utf8.index(after: colon)...]
            guard isTag(value) else {
                return fail("the tag must be 1 to 128 of [A-Za-z0-9_.-], not starting with . or -")
            }
            tag = String(value)
            rest = rest[..<colon]
        }
        guard tag != nil || digest != nil else {
            return fail("name a tag (name:tag) or a digest (name@sha256:...); a bare name is not allowed")
        }
        guard rest.utf8.count <= 255 else { return fail("the name is longer than 255 bytes") }
        let components = rest.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Substring.init)
        for (index, component) in components.enumerated() {
            let isRegistry =
                index == 0 && components.count > 1
                && (component.utf8.contains(UInt8(ascii: ".")) || component.utf8.contains(UInt8(ascii: ":"))
                    || component == "localhost")
            guard isRegistry ? isRegistryHost(component) : isPathComponent(component) else {
                return fail(
                    isRegistry
                        ? "registry \"\(component)\" must be a lowercase host name with an optional :port"
                        : "name component \"\(component)\" must be lowercase letters and digits, "
                            + "separated by . _ or -")
            }
        }
        return .success(Parts(name: String(rest), tag: tag, digest: digest))
    }

    private func isWildcard(_ byte: UInt8) -> Bool { allowWildcards && byte == UInt8(ascii: "*") }

    private func isLowerAlnum(_ byte: UInt8) -> Bool { byte.isLowerAlnum || isWildcard(byte) }

    private func isPathComponent(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, isLowerAlnum(first), isLowerAlnum(last) else {
            return false
        }
        return bytes.allSatisfy { isLowerAlnum($0) || $0.isOne(of: "._-") }
    }

    private func isRegistryHost(_ text: Substring) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
        let host = parts[0]
        guard let first = host.first, isLowerAlnum(first),
            host.allSatisfy({ isLowerAlnum($0) || $0.isOne(of: ".-") })
        else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].count <= 5 && parts[1].allSatisfy(\.isASCIIDigit)
    }

    private func isTag(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 128, first != UInt8(ascii: "."), first != UInt8(ascii: "-")
        else { return false }
        return bytes.allSatisfy { isLowerAlnum($0) || $0.isUppercaseLetter || $0.isOne(of: "_.-") }
    }

    private func isDigest(_ text: Substring) -> Bool {
        guard text.utf8.starts(with: "sha256:".utf8) else { return false }
        let hex = text.utf8.dropFirst("sha256:".utf8.count)
        if allowWildcards, hex.elementsEqual("*".utf8) { return true }
        return hex.count == 64
            && hex.allSatisfy { $0.isASCIIDigit || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }
}

/// `*` matches any run of bytes other than `/`, `:` and `@`; every other byte matches itself.
enum Glob {
    static func matches(pattern: [UInt8], _ text: [UInt8]) -> Bool {
        func isSeparator(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "@")
        }
        // reachable[j]: the pattern so far can consume exactly text[..<j]. Two rows, reused.
        var reachable = [Bool](repeating: false, count: text.count + 1)
        var next = reachable
        reachable[0] = true
        for symbol in pattern {
            for j in next.indices { next[j] = false }
            if symbol == UInt8(ascii: "*") {
                for j in 0...text.count
                where reachable[j] || (j > 0 && next[j - 1] && !isSeparator(text[j - 1])) {
                    next[j] = true
                }
            } else {
                for j in text.indices where reachable[j] && text[j] == symbol {
                    next[j + 1] = true
                }
            }
            swap(&reachable, &next)
        }
        return reachable[text.count]
    }
}
