import NIOCore

/// The claim message the warm pool sends to a pool container's gate over its terminal (see
/// `Gate/sandcastle-gate.c`): `"SCG1"`, a big-endian UInt32 payload length, and the payload of
/// NUL-terminated fields `uid, gid, cwd, env count, env..., argc, argv...`.
///
/// The gate reads it in raw mode (no echo, no line discipline), so any byte but NUL may appear in
/// a field; NUL cannot (the request validation refuses it in env and command).
public struct GateClaim: Sendable, Equatable {
    public static let magic: [UInt8] = Array("SCG1".utf8)
    /// The gate refuses larger payloads.
    public static let maximumPayloadBytes = 1 << 20

    public var uid: UInt32
    public var gid: UInt32
    public var workingDirectory: String
    public var environment: [String]
    public var command: [String]

    public init(uid: UInt32, gid: UInt32, workingDirectory: String, environment: [String], command: [String]) {
        self.uid = uid
        self.gid = gid
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.command = command
    }

    /// The framed message.
    ///
    /// - Throws: ``PoolError`` `claim` when a field holds NUL, the command is empty, or the
    ///   payload exceeds ``maximumPayloadBytes``.
    public func encoded() throws(PoolError) -> ByteBuffer {
        guard !command.isEmpty else { throw PoolError(.claim, "a claim needs a command (the gate has no image default)") }
        guard uid != 0, gid != 0 else { throw PoolError(.claim, "a claim never runs as uid or gid 0") }
        let fields = [String(uid), String(gid), workingDirectory, String(environment.count)] + environment
            + [String(command.count)] + command
        var payload: [UInt8] = []
        for field in fields {
            let bytes = Array(field.utf8)
            guard !bytes.contains(0) else { throw PoolError(.claim, "a claim field contains NUL") }
            payload += bytes
            payload.append(0)
        }
        guard payload.count <= Self.maximumPayloadBytes else {
            throw PoolError(.claim, "the claim message is \(payload.count) bytes; the gate takes at most \(Self.maximumPayloadBytes)")
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(8 + payload.count)
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(UInt32(payload.count), endianness: .big)
        buffer.writeBytes(payload)
        return buffer
    }
}
