import Foundation

enum Fixture {
    /// The bytes of a file captured from Debian 12's engine (20.10, API 1.41), in `Fixtures/`.
    static func bytes(_ name: String) throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name)"])
        }
        return Array(try Data(contentsOf: url))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(try bytes(name)))
    }
}
