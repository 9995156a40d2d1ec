import Crypto
import Foundation
import Testing

@testable import AccessControl

@Suite struct AttachTokenTests {
    let clock = ManualAccessClock(wallTime: Date(timeIntervalSince1970: 1_700_000_000))
    let keyA: AttachSigningKey
    let keyB: AttachSigningKey
    let signer: AttachTokenSigner

    init() throws {
        keyA = try AttachSigningKey(bytes: [UInt8](repeating: 0xA5, count: 32))
        keyB = try AttachSigningKey(bytes: [UInt8](repeating: 0x5A, count: 48))
        signer = try AttachTokenSigner(current: keyA, maxTTL: .seconds(300), clock: clock)
    }

    // MARK: Round trip

    @Test(arguments: AttachRole.allCases)
    func roundTrip(role: AttachRole) throws {
        let minted = try signer.mint(session: "s-1", role: role, ttl: .seconds(60))
        #expect(minted.expiresAt == Date(timeIntervalSince1970: 1_700_000_060))
        let verified = try signer.verify(token: minted.token, session: "s-1", requiredRole: nil)
        #expect(verified == VerifiedAttachToken(
            session: "s-1", role: role, expiresAt: minted.expiresAt, keyID: keyA.keyID, signedWithPreviousKey: false))
    }

    @Test func theTokenHasTheDocumentedLayout() throws {
        let minted = try signer.mint(session: "abc", role: .readWrite, ttl: .seconds(60))
        let parts = minted.token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 2)
        #expect(!minted.token.contains("="))
        let payload = try #require(ByteEncoding.bytes(fromBase64URL: parts[0]))
        let expiry: [UInt8] = [0, 0, 0, 0, 0x65, 0x53, 0xF1, 0x3C]  // 1_700_000_060
        #expect(payload == [1] + keyA.id + [2] + expiry + [0, 3] + Array("abc".utf8))
        #expect(try #require(ByteEncoding.bytes(fromBase64URL: parts[1])).count == 32)
        #expect(minted.token.utf8.count < 120)
    }

    /// Tokens minted before an upgrade must verify after it: the MAC and the key id are HMAC-SHA256
    /// as swift-crypto computes it in one call, whatever the signer does to make it cheaper.
    @Test(arguments: [[UInt8](repeating: 0xA5, count: 32), [UInt8](repeating: 0x5A, count: 48), Array(0..<100)])
    func theMACIsPlainHMACSHA256(keyBytes: [UInt8]) throws {
        let key = try AttachSigningKey(bytes: keyBytes)
        let symmetric = SymmetricKey(data: keyBytes)
        let kid = HMAC<SHA256>.authenticationCode(for: Array("sandcastle.attach.kid".utf8), using: symmetric)
        #expect(key.id == Array(Array(kid).prefix(4)))
        let signer = try AttachTokenSigner(current: key, maxTTL: .seconds(300), clock: clock)
        for session in ["abc", "s-2", String(repeating: "x", count: 200)] {
            let minted = try signer.mint(session: session, role: .readOnly, ttl: .seconds(60))
            let parts = minted.token.split(separator: ".", omittingEmptySubsequences: false)
            try #require(parts.count == 2)
            let payload = try #require(ByteEncoding.bytes(fromBase64URL: parts[0]))
            let expected = HMAC<SHA256>.authenticationCode(for: AttachTokenPayload.macContext + payload, using: symmetric)
            #expect(try #require(ByteEncoding.bytes(fromBase64URL: parts[1])) == Array(expected))
        }
    }

    @Test func aTokenForTheLongestSessionIdFitsTheLimit() throws {
        let session = String(repeating: "s", count: 256)
        let minted = try signer.mint(session: session, role: .readWrite, ttl: .seconds(60))
        #expect(minted.token.utf8.count <= AttachTokenSigner.maxTokenBytes)
        #expect(try signer.verify(token: minted.token, session: session, requiredRole: .readWrite).session == session)
    }

    @Test func fractionalNowRoundsTheExpiryDown() throws {
        clock.setWallTime(Date(timeIntervalSince1970: 1_700_000_000.75))
        let minted = try signer.mint(session: "s", role: .readOnly, ttl: .seconds(10))
        #expect(minted.expiresAt == Date(timeIntervalSince1970: 1_700_000_010))
    }

    // MARK: TTL

    @Test func ttlIsCappedAtMaxTTL() throws {
        let minted = try signer.mint(session: "s", role: .readWrite, ttl: .seconds(3600))
        #expect(minted.expiresAt == Date(timeIntervalSince1970: 1_700_000_300))
    }

    @Test(arguments: [Duration.zero, .seconds(-5), .milliseconds(999)])
    func ttlUnderOneSecondIsRefused(ttl: Duration) {
        let error = #expect(throws: AccessControlError.self) {
            try signer.mint(session: "s", role: .readWrite, ttl: ttl)
        }
        #expect(error?.code == .invalidTTL)
        #expect(error?.message.contains("at least 1 second") == true)
    }

    @Test func configurationIsValidated() throws {
        #expect(throws: AccessControlError(
            code: .invalidTTL, message: "the maximum attach-token TTL is 0.5 seconds; it must be at least 1 second.")
        ) {
            try AttachTokenSigner(current: keyA, maxTTL: .milliseconds(500))
        }
        let negativeLeeway = #expect(throws: AccessControlError.self) {
            try AttachTokenSigner(current: keyA, maxTTL: .seconds(60), leeway: .seconds(-1))
        }
        #expect(negativeLeeway?.code == .invalidTTL)
        let sameKey = #expect(throws: AccessControlError.self) {
            try AttachTokenSigner(current: keyA, previous: AttachSigningKey(bytes: keyA.bytes), maxTTL: .seconds(60))
        }
        #expect(sameKey?.code == .invalidSigningKey)
    }

    @Test(arguments: [0, 1, 16, 31])
    func shortKeysAreRefused(length: Int) {
        let error = #expect(throws: AccessControlError.self) {
            try AttachSigningKey(bytes: [UInt8](repeating: 7, count: length))
        }
        #expect(error?.code == .invalidSigningKey)
        #expect(error?.message.contains("is \(length) bytes; at least 32") == true)
    }

    @Test func keysNeverPrintTheirBytes() throws {
        let key = AttachSigningKey.generate()
        #expect(key.bytes.count == 32)
        #expect("\(key)" == "AttachSigningKey(id: \(key.keyID))")
        #expect(!"\(key)".contains(ByteEncoding.hex(key.bytes)))
        #expect(AttachSigningKey.generate().bytes != key.bytes)
    }

    @Test(arguments: ["", String(repeating: "x", count: 257)])
    func sessionIdsThatDoNotFitAreRefused(session: String) {
        let error = #expect(throws: AccessControlError.self) {
            try signer.mint(session: session, role: .readWrite, ttl: .seconds(60))
        }
        #expect(error?.code == .invalidSessionID)
    }

    // MARK: Expiry

    @Test func expiresExactlyAtExpiresAt() throws {
        let minted = try signer.mint(session: "s", role: .readWrite, ttl: .seconds(60))
        clock.advance(by: .milliseconds(59_999))
        _ = try signer.verify(token: minted.token, session: "s", requiredRole: .readWrite)
        clock.advance(by: .milliseconds(1))
        #expect(throws: AttachTokenError.expired(at: minted.expiresAt)) {
            try signer.verify(token: minted.token, session: "s", requiredRole: .readWrite)
        }
        clock.advance(by: .seconds(86400))
        #expect(throws: AttachTokenError.expired(at: minted.expiresAt)) {
            try signer.verify(token: minted.token, session: "s", requiredRole: nil)
        }
    }

    @Test func leewayExtendsAcceptancePastExpiry() throws {
        let lenient = try AttachTokenSigner(current: keyA, maxTTL: .seconds(300), leeway: .seconds(5), clock: clock)
        let minted = try lenient.mint(session: "s", role: .readWrite, ttl: .seconds(60))
        clock.advance(by: .seconds(64))
        _ = try lenient.verify(token: minted.token, session: "s", requiredRole: nil)
        clock.advance(by: .seconds(1))
        #expect(throws: AttachTokenError.expired(at: minted.expiresAt)) {
            try lenient.verify(token: minted.token, session: "s", requiredRole: nil)
        }
    }

    // MARK: Session and role

    @Test(arguments: ["s-2", "s-1x", "s-", "S-1", ""])
    func wrongSessionIsRefused(session: String) throws {
        let minted = try signer.mint(session: "s-1", role: .readWrite, ttl: .seconds(60))
        #expect(throws: AttachTokenError.wrongSession(expected: session, actual: "s-1")) {
            try signer.verify(token: minted.token, session: session, requiredRole: nil)
        }
    }

    @Test func sessionsCompareByteForByteNotByUnicodeEquivalence() throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)  // Swift's String equality would accept it.
        let minted = try signer.mint(session: composed, role: .readWrite, ttl: .seconds(60))
        #expect(throws: AttachTokenError.self) {
            try signer.verify(token: minted.token, session: decomposed, requiredRole: nil)
        }
    }

    @Test func readOnlyNeverGrantsReadWrite() throws {
        let readOnly = try signer.mint(session: "s", role: .readOnly, ttl: .seconds(60)).token
        let readWrite = try signer.mint(session: "s", role: .readWrite, ttl: .seconds(60)).token
        #expect(throws: AttachTokenError.wrongRole(required: .readWrite, granted: .readOnly)) {
            try signer.verify(token: readOnly, session: "s", requiredRole: .readWrite)
        }
        #expect(try signer.verify(token: readOnly, session: "s", requiredRole: .readOnly).role == .readOnly)
        #expect(try signer.verify(token: readOnly, session: "s", requiredRole: nil).role == .readOnly)
        #expect(try signer.verify(token: readWrite, session: "s", requiredRole: .readOnly).role == .readWrite)
        #expect(try signer.verify(token: readWrite, session: "s", requiredRole: .readWrite).role == .readWrite)
    }

    // MARK: Keys and rotation

    @Test func previousKeyVerifiesUntilDropped() throws {
        let old = try signer.mint(session: "s", role: .readWrite, ttl: .seconds(60)).token
        let rotated = try signer.rotated(to: keyB)
        #expect(rotated.current.keyID == keyB.keyID)
        #expect(rotated.previous?.keyID == keyA.keyID)

        let verifiedOld = try rotated.verify(token: old, session: "s", requiredRole: .readWrite)
        #expect(verifiedOld.signedWithPreviousKey)
        #expect(verifiedOld.keyID == keyA.keyID)

        let new = try rotated.mint(session: "s", role: .readWrite, ttl: .seconds(60)).token
        let verifiedNew = try rotated.verify(token: new, session: "s", requiredRole: .readWrite)
        #expect(!verifiedNew.signedWithPreviousKey)
        #expect(verifiedNew.keyID == keyB.keyID)
        // The old signer does not know the new key.
        #expect(throws: AttachTokenError.badSignature) {
            try signer.verify(token: new, session: "s", requiredRole: nil)
        }

        let dropped = rotated.droppingPreviousKey()
        #expect(dropped.previous == nil)
        #expect(throws: AttachTokenError.badSignature) {
            try dropped.verify(token: old, session: "s", requiredRole: nil)
        }
        _ = try dropped.verify(token: new, session: "s", requiredRole: nil)
    }

    @Test func aTokenFromAnotherKeyWithTheSameKeyIDIsStillRefused() throws {
        // Forge the key id of keyA on a token signed by keyB.
        let foreign = try AttachTokenSigner(current: keyB, maxTTL: .seconds(300), clock: clock)
        let minted = try foreign.mint(session: "s", role: .readWrite, ttl: .seconds(60))
        #expect(throws: AttachTokenError.badSignature) {
            try signer.verify(token: minted.token, session: "s", requiredRole: nil)
        }
        let parts = minted.token.split(separator: ".")
        var payload = try #require(ByteEncoding.bytes(fromBase64URL: parts[0]))
        payload.replaceSubrange(1..<5, with: keyA.id)
        let relabelled = ByteEncoding.base64URL(payload) + "." + parts[1]
        #expect(throws: AttachTokenError.badSignature) {
            try signer.verify(token: relabelled, session: "s", requiredRole: nil)
        }
    }

    // MARK: Tampering and malformed input

    @Test func changingAnyCharacterInvalidatesTheToken() throws {
        let token = try signer.mint(session: "session-1", role: .readOnly, ttl: .seconds(60)).token
        let characters = Array(token)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        var tried = 0
        for position in characters.indices {
            // Three replacements per position, including ones that only touch the low bits.
            let others = alphabet.filter { $0 != characters[position] }.prefix(3)
            for replacement in others + [flipLowBit(characters[position])] {
                var altered = characters
                altered[position] = replacement
                let text = String(altered)
                guard text != token else { continue }
                tried += 1
                #expect(throws: AttachTokenError.self, "position \(position) -> \(replacement)") {
                    try signer.verify(token: text, session: "session-1", requiredRole: nil)
                }
            }
        }
        #expect(tried >= characters.count * 3)
    }

    @Test func alteredFieldsWithTheOriginalMacAreBadSignatures() throws {
        let token = try signer.mint(session: "s-1", role: .readOnly, ttl: .seconds(60)).token
        let parts = token.split(separator: ".")
        let original = try #require(ByteEncoding.bytes(fromBase64URL: parts[0]))
        // Role ro -> rw, expiry + 1 day, session s-1 -> s-2.
        for (offset, value) in [(5, UInt8(2)), (10, original[10] &+ 1), (18, UInt8(ascii: "2"))] {
            var payload = original
            payload[offset] = value
            #expect(throws: AttachTokenError.badSignature) {
                let altered = ByteEncoding.base64URL(payload) + "." + parts[1]
                return try signer.verify(token: altered, session: "s-1", requiredRole: nil)
            }
        }
    }

    @Test(arguments: [
        ("", "empty"),
        ("abc", "1 dot-separated parts"),
        (".", "signature is 0 bytes"),
        ("a.b.c", "3 dot-separated parts"),
        ("!!!!.AAAA", "payload is not strict"),
        ("AQ==.AAAA", "payload is not strict"),
        ("AQ.AAAA=", "signature is not strict"),
        ("AQ .AAAA", "payload is not strict"),
        ("AQ.AAAA", "signature is 3 bytes"),
        ("AB.AAAA", "payload is not strict"),  // nonzero unused bits
        ("A.AAAA", "payload is not strict"),  // impossible length
        (String(repeating: "A", count: 2000) + ".AAAA", "2005 bytes; the limit is 1024"),
    ])
    func malformedTokensAreRefused(token: String, reason: String) {
        let error = #expect(throws: AttachTokenError.self) {
            try signer.verify(token: token, session: "s", requiredRole: nil)
        }
        guard case .malformed(let actual)? = error else {
            Issue.record("expected malformed, got \(String(describing: error))")
            return
        }
        #expect(actual.contains(reason), "\(actual)")
    }

    @Test func malformedPayloadsAreRefusedBeforeAnyKeyIsTried() throws {
        let mac = ByteEncoding.base64URL([UInt8](repeating: 0, count: 32))
        let header: [UInt8] = [1] + keyA.id + [2] + [UInt8](repeating: 0, count: 8)
        let cases: [([UInt8], String)] = [
            ([], "payload is 0 bytes"),
            ([2] + header.dropFirst() + [0, 1, 65], "unknown version 2"),
            ([1] + keyA.id + [3] + [UInt8](repeating: 0, count: 8) + [0, 1, 65], "unknown role byte 3"),
            (header + [0, 0], "session length 0"),
            (header + [0, 2, 65], "session length 2"),
            (header + [0, 1, 65, 66], "session length 1"),
            (header + [1, 1] + [UInt8](repeating: 65, count: 257), "session length 257"),
        ]
        for (payload, reason) in cases {
            let error = #expect(throws: AttachTokenError.self) {
                try signer.verify(token: ByteEncoding.base64URL(payload) + "." + mac, session: "s", requiredRole: nil)
            }
            #expect(reasonOf(error).contains(reason), "\(reasonOf(error))")
        }
    }

    @Test func errorDescriptionsSayWhatFailed() {
        #expect("\(AttachTokenError.badSignature)".contains("signature invalid"))
        #expect("\(AttachTokenError.expired(at: Date(timeIntervalSince1970: 0)))"
            == "attach token expired at 1970-01-01T00:00:00Z")
        #expect("\(AttachTokenError.wrongSession(expected: "a", actual: "b"))"
            == "attach token is for session 'b', not 'a'")
        #expect("\(AttachTokenError.wrongRole(required: .readWrite, granted: .readOnly))"
            == "attach token grants 'ro' but 'rw' is required")
    }
}

private func reasonOf(_ error: AttachTokenError?) -> String {
    if case .malformed(let reason)? = error { reason } else { "not malformed: \(String(describing: error))" }
}

/// The base64url character whose value differs from `char`'s in the lowest bit.
private func flipLowBit(_ char: Character) -> Character {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    guard let index = alphabet.firstIndex(of: char) else { return "A" }
    return alphabet[index ^ 1]
}
