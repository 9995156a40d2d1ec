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
    let bearers = offered.filter { $0.utf8.starts(with: prefix) }
    guard bearers.count == 1, let entry = bearers.first else { return nil }
    return validatedCredential(entry.utf8.dropFirst(prefix.count))
}

/// The entries of a `Sec-WebSocket-Protocol` value, in order: split at commas (empty entries
/// dropped), with spaces and tabs around each trimmed. Read byte by byte: the header is ASCII, and
/// Foundation's character sets cost more than the rest of a terminal's authorization.
public func offeredSubprotocols(secWebSocketProtocol: String) -> [Substring] {
    secWebSocketProtocol.utf8.split(separator: UInt8(ascii: ",")).map { entry in
        let start = entry.firstIndex { !isBlank($0) } ?? entry.endIndex
        let end = entry[start...].lastIndex { !isBlank($0) }.map { entry.index(after: $0) } ?? start
        return Substring(entry[start..<end])
    }
}

/// `bytes` with blanks trimmed, if what is left is a credential: 1 to `maxBearerCredentialBytes`
/// of visible ASCII.
private func validatedCredential(_ bytes: some Collection<UInt8>) -> String? {
    let all = Array(bytes)
    guard let first = all.firstIndex(where: { !isBlank($0) }), let last = all.lastIndex(where: { !isBlank($0) })
    else { return nil }
    let credential = all[first...last]
    guard credential.count <= maxBearerCredentialBytes,
        credential.allSatisfy({ (0x21...0x7E).contains($0) })
    else { return nil }
    return String(decoding: credential, as: UTF8.self)
}

private func isBlank(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
}

private func lowercasedASCII(_ byte: UInt8) -> UInt8 {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
}
