import JSONText

/// The engine's answers and bodies on a launch's path, read and written through `JSONText`
/// instead of Foundation's coders.
///
/// A cold launch reads the created container's inspect back (about 10 KB of JSON, which is how a
/// tampered container never starts), writes the create's body and reads a few events:
/// `JSONDecoder` and `JSONEncoder` walked them through `Codable`'s generic containers, 3.4 million
/// instructions of a cold launch's 8.1 million. Reading and writing the bytes directly costs 0.9
/// million, most of it the seccomp profile that `SecurityOpt` carries as one escaped string.
///
/// The types keep their `Codable` conformances, whose `CodingKeys` are the one spelling of the
/// engine's field names: the readers and writers here go by the same keys, and tests check that
/// both ways agree value for value and byte for byte. (Refining `Decodable` also makes the
/// client's `decode` for these types the more specific overload.)
protocol EngineJSONReadable: Decodable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError)
}

/// A value written into a request body, as `JSONEncoder` with sorted keys writes it.
protocol EngineJSONWritable: Encodable {
    func write(to text: inout JSONText)
}

extension EngineJSONWritable {
    /// The JSON text, escaping `/` as `JSONEncoder` does by default.
    var jsonBytes: [UInt8] {
        var text = JSONText(escapingSlashes: true)
        write(to: &text)
        return text.bytes
    }
}

extension EngineJSONReadable {
    /// Reads one JSON text (UTF-8) that holds this value and nothing after it.
    init(json bytes: some Sequence<UInt8>) throws(JSONText.ReadError) {
        self = try JSONReader.read(bytes) { reader throws(JSONText.ReadError) in try Self(reading: &reader) }
    }
}

// MARK: - Values

extension String: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) { self = try reader.string() }
}

extension Bool: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) { self = try reader.bool() }
}

extension Int: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) { self = try reader.integer() }
}

extension Int64: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) { self = try reader.integer() }
}

/// `null` reads as nil, as `Codable` decodes an optional.
extension Optional: EngineJSONReadable where Wrapped: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        self = try reader.nullable { reader throws(JSONText.ReadError) in try Wrapped(reading: &reader) }
    }
}

extension Array: EngineJSONReadable where Element: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        self = try reader.array { reader throws(JSONText.ReadError) in try Element(reading: &reader) }
    }
}

extension Dictionary: EngineJSONReadable where Key == String, Value: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        self = try reader.map { reader throws(JSONText.ReadError) in try Value(reading: &reader) }
    }
}

extension EngineJSONReadable where Self: RawRepresentable, RawValue == String {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        let raw = try reader.string()
        guard let value = Self(rawValue: raw) else { throw reader.failure("\"\(raw)\" is not a \(Self.self)") }
        self = value
    }
}

// MARK: - Objects

extension JSONReader {
    /// An object's members, each value read by `value` when its key is one of `Key`'s and
    /// passed over otherwise (the engine reports far more than the client models). The engine
    /// is the daemon's trusted side and writes each key once; were one given twice, the last
    /// would count, as it does for the engine's own Go decoders.
    mutating func fields<Key: RawRepresentable>(
        _: Key.Type, _ value: (inout JSONReader, Key) throws(JSONText.ReadError) -> Void
    ) throws(JSONText.ReadError) where Key.RawValue == String {
        try members { reader, name throws(JSONText.ReadError) in
            if let key = Key(rawValue: name) { try value(&reader, key) } else { try reader.skipValue() }
            return true
        }
    }

    /// Reads the value `value`'s type has into it.
    mutating func read<Value: EngineJSONReadable>(_ value: inout Value) throws(JSONText.ReadError) {
        value = try Value(reading: &self)
    }

    /// A value that must have been read: its key was in the object.
    func required<Value, Key: RawRepresentable>(_ value: Value?, _ key: Key) throws(JSONText.ReadError) -> Value
    where Key.RawValue == String {
        guard let value else { throw failure("the object that ends here has no \"\(key.rawValue)\"") }
        return value
    }
}

extension JSONText {
    /// The member, unless `value` is nil (as `Encodable` leaves nil out).
    mutating func member(_ key: String, _ value: (some EngineJSONWritable)?) {
        guard let value else { return }
        self.key(key)
        value.write(to: &self)
    }

    mutating func member(_ key: String, _ values: [some EngineJSONWritable]?) {
        guard let values else { return }
        self.key(key)
        beginArray()
        for value in values { value.write(to: &self) }
        endArray()
    }

    mutating func member<Raw: RawRepresentable>(_ key: String, _ value: Raw?) where Raw.RawValue == String {
        member(key, value?.rawValue)
    }
}
