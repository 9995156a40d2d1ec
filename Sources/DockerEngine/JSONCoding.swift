import Foundation

/// The encoder and decoder the client uses; the engine's field names are spelled in `CodingKeys`.
/// Made once and then only used: Foundation's coders take their options under a lock, so one
/// instance serves every thread, and no engine call pays for building one.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static let decoder = JSONDecoder()
}

extension JSONDecoder {
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: Data(bytes))
    }
}
