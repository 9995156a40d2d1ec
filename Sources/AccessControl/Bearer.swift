/// The longest bearer credential accepted, in bytes (API keys are 67, attach tokens under 450).
public let maxBearerCredentialBytes = 512

/// The credential of an `Authorization: Bearer <credential>` header, or nil when the header is not
/// one that can carry a credential.
///
/// The scheme is matched case-insensitively and must be followed by at least one space or tab;
/// spaces and tabs around the credential are trimmed. Refused (nil): another scheme, an empty
/// credential, one longer than `maxBearerCredentialBytes`, or one with any byte outside visible
/// ASCII (`!` to `~`), which also excludes inner spaces, control characters and non-ASCII text.
public func parseBearer(authorizationHeader: String) -> String? {
    let scheme = "bearer".utf8
    let bytes = authorizationHeader.utf8
    guard bytes.count > scheme.count,
        zip(bytes, scheme).allSatisfy({ lowercasedASCII($0) == $1 })
    else { return nil }
    let rest = bytes.dropFirst(scheme.count)
    guard let first = rest.first, isBlank(first) else { return nil }
    return validatedCredential(rest)
}

/// The attach token offered as the WebSocket subprotocol `bearer.<token>`, among the entries of
/// `Sec-WebSocket-Protocol` that `offeredSubprotocols(secWebSocketProtocol:)` returned (browsers
/// cannot set `Authorization`).
///
/// Nil when no entry starts with `bearer.`, when more than one does (ambiguous), or when the token
/// would be refused by `parseBearer(authorizationHeader:)`'s rules. The server must not echo the
/// `bearer.` entry back as the selected subprotocol: it selects `sandcastle.tty.v1`.
public func parseBearerSubprotocol(offered: [Substring]) -> String? {
    let prefix = "bearer.".utf8
    var found: Substring?
    for entry in offered where entry.utf8.starts(with: prefix) {
        guard found == nil else { return nil }
        found = entry
    }
    guard let found else { return nil }
    return validatedCredential(found.utf8.dropFirst(prefix.count))
}

/// The entries of a `Sec-WebSocket-Protocol` value, in order: split at commas (empty entries
/// dropped), with spaces and tabs around each trimmed. Read byte by byte, in one pass over the
/// value's UTF-8 (the header is ASCII, and it carries a token of some 400 bytes): Foundation's
/// character sets, and even the standard library's generic `split`, cost more than the rest of a
/// terminal's authorization.
public func offeredSubprotocols(secWebSocketProtocol: String) -> [Substring] {
    let utf8 = secWebSocketProtocol.utf8
    var entries: [Substring] = []
    var start = utf8.startIndex
    while start < utf8.endIndex {
        let end = utf8[start...].firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
        if start < end { entries.append(Substring(trimmingBlanks(utf8[start..<end]))) }
        start = end < utf8.endIndex ? utf8.index(after: end) : end
    }
    return entries
}

/// `bytes` with blanks trimmed, if what is left is a credential: 1 to `maxBearerCredentialBytes`
/// of visible ASCII.
private func validatedCredential(_ bytes: Substring.UTF8View) -> String? {
    let credential = trimmingBlanks(bytes)
    guard !credential.isEmpty, credential.count <= maxBearerCredentialBytes,
        credential.allSatisfy({ (0x21...0x7E).contains($0) })
    else { return nil }
    return String(Substring(credential))
}

/// `bytes` without the spaces and tabs at either end.
private func trimmingBlanks(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
    guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) })
    else { return bytes[bytes.endIndex...] }
    return bytes[first...last]
}

private func isBlank(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
}

private func lowercasedASCII(_ byte: UInt8) -> UInt8 {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
}
