import Testing

@testable import SandcastleAPI

/// The frame walker behind the unmasked-frame check: it must follow frame boundaries across any
/// split of the byte stream, through short, 16-bit and 64-bit lengths.
@Suite("WebSocket mask scanner")
struct WebSocketMaskScannerTests {
    static func frame(length: Int, masked: Bool = true, opcode: UInt8 = 0x2) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | opcode]
        let mask: UInt8 = masked ? 0x80 : 0
        if length < 126 {
            bytes.append(mask | UInt8(length))
        } else if length <= 0xFFFF {
            bytes += [mask | 126, UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            bytes.append(mask | 127)
            bytes += (0..<8).reversed().map { UInt8((UInt64(length) >> (UInt64($0) * 8)) & 0xFF) }
        }
        if masked { bytes += [1, 2, 3, 4] }
        // Payload bytes that would look like unmasked headers if the walker lost its place.
        return bytes + Array(repeating: 0x02, count: length)
    }

    @Test func maskedFramesPassWhateverTheSplit() {
        let stream = Self.frame(length: 5) + Self.frame(length: 0) + Self.frame(length: 300) + Self.frame(length: 70_000)
            + Self.frame(length: 125)
        for chunk in [1, 2, 3, 7, 13, 1000, stream.count] {
            var scanner = WebSocketMaskScanner()
            var index = 0
            while index < stream.count {
                let end = min(index + chunk, stream.count)
                #expect(scanner.scan(stream[index..<end]) == .masked, "chunk \(chunk) at \(index)")
                index = end
            }
        }
    }

    @Test func anUnmaskedFrameIsFoundWhereItStarts() {
        let before = Self.frame(length: 200) + Self.frame(length: 3)
        let stream = before + Self.frame(length: 4, masked: false) + Self.frame(length: 1)
        var whole = WebSocketMaskScanner()
        #expect(whole.scan(stream) == .unmasked(frameStart: before.count))

        // Split inside the earlier frames: the offset is relative to the chunk that holds the head.
        var split = WebSocketMaskScanner()
        #expect(split.scan(stream[0..<100]) == .masked)
        #expect(split.scan(stream[100..<stream.count]) == .unmasked(frameStart: before.count - 100))

        // The head split between its two bytes: the frame started in the previous chunk.
        var byByte = WebSocketMaskScanner()
        #expect(byByte.scan(stream[0..<(before.count + 1)]) == .masked)
        #expect(byByte.scan(stream[(before.count + 1)...]) == .unmasked(frameStart: -1))
    }
}
