import Foundation
import Testing

@testable import AccessControl

@Suite struct ByteEncodingTests {
    @Test func base64URLMatchesFoundationWithoutPaddingAndRoundTrips() {
        var generator = CountingGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next() &* 0x9E37_79B9_7F4A_7C15 >> 56) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let encoded = ByteEncoding.base64URL(bytes)
            #expect(encoded == expected, "length \(length)")
            #expect(ByteEncoding.bytes(fromBase64URL: encoded[...]) == bytes, "length \(length)")
        }
    }

    @Test(arguments: ["A", "AB", "AAB", "AAAAA", "AA=", "AA==", "A+", "A/", "A A", "AA\n", "é"])
    func strictDecodingRefusesNonCanonicalText(text: String) {
        #expect(ByteEncoding.bytes(fromBase64URL: text[...]) == nil)
    }

    @Test func hexRoundTripsAndRefusesNonHex() {
        #expect(ByteEncoding.hex([0x00, 0x7F, 0xA5, 0xFF]) == "007fa5ff")
        #expect(ByteEncoding.bytes(fromHex: "007fA5Ff") == [0x00, 0x7F, 0xA5, 0xFF])
        #expect(ByteEncoding.bytes(fromHex: "") == [])
        #expect(ByteEncoding.bytes(fromHex: "0") == nil)
        #expect(ByteEncoding.bytes(fromHex: "0g") == nil)
        #expect(ByteEncoding.bytes(fromHex: "é0") == nil)
    }
}
