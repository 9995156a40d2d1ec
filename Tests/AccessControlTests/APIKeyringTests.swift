import Testing

@testable import AccessControl

@Suite struct APIKeyringTests {
    static let webKey = "sc_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    static let opsKey = "sc_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
    static let readerKey = "reader-key-with-any-text"

    static func keyring() throws -> APIKeyring {
        try APIKeyring(entries: [
            APIKeyEntry(name: "web-tier", sha256: APIKeyring.sha256Hex(of: webKey), role: .developer),
            APIKeyEntry(name: "ops", sha256: APIKeyring.sha256Hex(of: opsKey), role: .admin),
            APIKeyEntry(name: "dashboard", sha256: APIKeyring.sha256Hex(of: readerKey), role: .viewer),
        ])
    }

    @Test func eachKeyAuthenticatesAsItsOwnEntry() throws {
        let keyring = try Self.keyring()
        #expect(keyring.authenticate(presentedKey: Self.webKey) == Principal(name: "web-tier", role: .developer))
        #expect(keyring.authenticate(presentedKey: Self.opsKey) == Principal(name: "ops", role: .admin))
        #expect(keyring.authenticate(presentedKey: Self.readerKey) == Principal(name: "dashboard", role: .viewer))
    }

    @Test(arguments: [
        "", "wrong", "sc_", webKey.uppercased(), webKey + " ", " " + webKey,
        // Differs only in the last character, and only in the first.
        String(webKey.dropLast()) + "e", "x" + webKey.dropFirst(),
        String(webKey.dropLast()),
        // The hash itself is not the key.
        APIKeyring.sha256Hex(of: webKey),
    ])
    func otherKeysDoNotAuthenticate(key: String) throws {
        #expect(try Self.keyring().authenticate(presentedKey: key) == nil)
    }

    @Test func theSHA256IsOfTheUTF8Bytes() {
        // `printf %s abc | sha256sum`
        #expect(APIKeyring.sha256Hex(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func emptyKeyringAuthenticatesNobody() throws {
        #expect(try APIKeyring(entries: []).authenticate(presentedKey: Self.webKey) == nil)
    }

    @Test func uppercaseHexIsAcceptedAndKeptLowercase() throws {
        let hash = APIKeyring.sha256Hex(of: Self.webKey)
        let keyring = try APIKeyring(entries: [APIKeyEntry(name: "web", sha256: hash.uppercased(), role: .viewer)])
        #expect(keyring.entries[0].sha256 == hash)
        #expect(keyring.authenticate(presentedKey: Self.webKey)?.name == "web")
    }

    @Test func duplicateNamesAreRefusedNamingBothEntries() {
        let error = #expect(throws: AccessControlError.self) {
            try APIKeyring(entries: [
                APIKeyEntry(name: "ci", sha256: APIKeyring.sha256Hex(of: "one"), role: .viewer),
                APIKeyEntry(name: "other", sha256: APIKeyring.sha256Hex(of: "two"), role: .viewer),
                APIKeyEntry(name: "ci", sha256: APIKeyring.sha256Hex(of: "three"), role: .admin),
            ])
        }
        #expect(error?.code == .invalidKeyring)
        #expect(error?.message.contains("entry #3 ('ci'): the name is already used by entry #1") == true)
    }

    @Test func duplicateHashesAreRefusedEvenInAnotherCase() {
        let hash = APIKeyring.sha256Hex(of: "shared")
        let error = #expect(throws: AccessControlError.self) {
            try APIKeyring(entries: [
                APIKeyEntry(name: "a", sha256: hash, role: .viewer),
                APIKeyEntry(name: "b", sha256: hash.uppercased(), role: .admin),
            ])
        }
        #expect(error?.message.contains("entry #2 ('b'): has the same sha256 as entry #1 ('a')") == true)
    }

    @Test(arguments: [
        ("", "got 0 characters"),
        (String(repeating: "a", count: 63), "got 63 characters"),
        (String(repeating: "a", count: 65), "got 65 characters"),
        (String(repeating: "g", count: 64), "got a non-hex digit"),
        (webKey, "got 67 characters"),
    ])
    func badHashesAreRefusedNamingTheEntry(hash: String, detail: String) {
        let error = #expect(throws: AccessControlError.self) {
            try APIKeyring(entries: [APIKeyEntry(name: "web", sha256: hash, role: .viewer)])
        }
        #expect(error?.message.contains("entry #1 ('web'): sha256 must be the 64 hex digits") == true)
        #expect(error?.message.contains(detail) == true, "\(error?.message ?? "")")
        // The value itself is not echoed: it might be a pasted key.
        if hash.count > 0 { #expect(error?.message.contains(hash) == false) }
    }

    @Test(arguments: ["", "has space", "ümlaut", "semi;colon", String(repeating: "n", count: 65)])
    func badNamesAreRefused(name: String) {
        let error = #expect(throws: AccessControlError.self) {
            try APIKeyring(entries: [APIKeyEntry(name: name, sha256: APIKeyring.sha256Hex(of: "k"), role: .viewer)])
        }
        #expect(error?.message.contains("entry #1") == true)
    }

    @Test func everyProblemIsReportedAtOnce() {
        let error = #expect(throws: AccessControlError.self) {
            try APIKeyring(entries: [
                APIKeyEntry(name: "", sha256: APIKeyring.sha256Hex(of: "one"), role: .viewer),
                APIKeyEntry(name: "b", sha256: "nope", role: .viewer),
                APIKeyEntry(name: "b", sha256: APIKeyring.sha256Hex(of: "one"), role: .viewer),
            ])
        }
        #expect(error?.message.contains("(4 problems)") == true, "\(error?.message ?? "")")
    }

    @Test func generatedKeysHaveTheDocumentedFormatAndAuthenticate() throws {
        let generated = try APIKeyring.generateKey(name: "web-tier", role: .developer)
        #expect(generated.key.hasPrefix("sc_"))
        let hex = generated.key.dropFirst(3)
        #expect(hex.count == 64)
        #expect(hex.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(generated.entry == APIKeyEntry(
            name: "web-tier", sha256: APIKeyring.sha256Hex(of: generated.key), role: .developer))
        #expect(generated.configLine
            == "{ name = \"web-tier\", sha256 = \"\(generated.entry.sha256)\", role = \"developer\" }")
        #expect(!generated.configLine.contains(generated.key))

        let other = try APIKeyring.generateKey(name: "ops", role: .admin)
        #expect(other.key != generated.key)
        let keyring = try APIKeyring(entries: [generated.entry, other.entry])
        #expect(keyring.authenticate(presentedKey: generated.key) == Principal(name: "web-tier", role: .developer))
        #expect(keyring.authenticate(presentedKey: other.key) == Principal(name: "ops", role: .admin))
    }

    @Test func generatedKeysUseAll32BytesOfTheGenerator() throws {
        var generator = CountingGenerator()
        let generated = try APIKeyring.generateKey(name: "k", role: .viewer, using: &generator)
        #expect(generated.key == "sc_" + "0000000000000001" + "0000000000000002" + "0000000000000003" + "0000000000000004")
    }

    @Test func generatingAKeyWithABadNameIsRefused() {
        let error = #expect(throws: AccessControlError.self) {
            try APIKeyring.generateKey(name: "bad name", role: .viewer)
        }
        #expect(error?.code == .invalidKeyName)
    }
}

/// Returns 1, 2, 3, ...
struct CountingGenerator: RandomNumberGenerator {
    var state: UInt64 = 0
    mutating func next() -> UInt64 {
        state += 1
        return state
    }
}
