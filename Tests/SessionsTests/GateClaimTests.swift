import NIOCore
import Testing

@testable import Sessions

@Suite("The gate's claim message")
struct GateClaimTests {
    @Test("framed: magic, big-endian length, NUL-terminated fields in order")
    func encoding() throws {
        let claim = GateClaim(uid: 1234, gid: 1234, workingDirectory: "/workspace", environment: ["A=1", "B= two"], command: ["sh", "-c", "echo hi"])
        var buffer = try claim.encoded()
        let magic = buffer.readBytes(length: 4)
        #expect(magic == Array("SCG1".utf8))
        let header = buffer.readInteger(endianness: .big, as: UInt32.self)
        let length = Int(try #require(header))
        #expect(length == buffer.readableBytes)
        let read = buffer.readBytes(length: length)
        let payload = try #require(read)
        let fields = payload.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        #expect(fields == ["1234", "1234", "/workspace", "2", "A=1", "B= two", "3", "sh", "-c", "echo hi", ""])
    }

    @Test("refused: NUL in a field, an empty command, root, an oversized message")
    func refusals() {
        #expect(throws: PoolError.self) {
            try GateClaim(uid: 1, gid: 1, workingDirectory: "/w", environment: ["A=\u{0}"], command: ["sh"]).encoded()
        }
        #expect(throws: PoolError.self) { try GateClaim(uid: 1, gid: 1, workingDirectory: "/w", environment: [], command: []).encoded() }
        #expect(throws: PoolError.self) { try GateClaim(uid: 0, gid: 1, workingDirectory: "/w", environment: [], command: ["sh"]).encoded() }
        let huge = String(repeating: "x", count: GateClaim.maximumPayloadBytes)
        #expect(throws: PoolError.self) {
            try GateClaim(uid: 1, gid: 1, workingDirectory: "/w", environment: [], command: [huge]).encoded()
        }
    }

    @Test("mountinfo mount points with octal escapes")
    func mountInfo() {
        let text = """
            27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
            80 63 0:48 /ws /var/lib/sandcastle/pool/a\\040b rw,relatime shared:28 - overlay overlay rw
            """
        #expect(MountInfo.mountPoints(text) == ["/", "/var/lib/sandcastle/pool/a b"])
    }
}
