/// A parsed JSON value: every JSON input and output of PolicyBus (the wire,
/// `eval` facts and schema files, `publish --facts`, the durable log) goes
/// through this one reader and writer.
///
/// It lives in PolicyEngine, the lowest module that knows ``Value``: the
/// durable log (PolicyStore) and the bus (PolicyBus) both sit above it, and
/// rows of values are read and written inside one module, with no call
/// across a module boundary per value on the publish path.
///
/// Numbers keep the distinction the protocol depends on: a number written
/// without a decimal point or exponent is an `.int`, and must fit in 64 bits
/// (anything larger is malformed, never silently a float); every other
/// number is a `.float`.
public enum JSON: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }
}

// MARK: - Parsing

extension JSON {
    /// Parses one JSON document from UTF-8 bytes.
    /// - Throws: ``JSONError`` for malformed JSON, bytes that are not UTF-8,
    ///   an integer outside the int64 range or a number beyond a finite double.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSON {
        try parse(bytes, maxArrayCount: .max)
    }

    /// Parses one JSON document, stopping at the first array of more than
    /// `maxArrayCount` elements (the error's `elementLimit` says so).
    public static func parse(_ bytes: some Collection<UInt8>, maxArrayCount: Int) throws(JSONError) -> JSON {
        var parser = JSONParser(bytes: Array(bytes))
        parser.maxArrayCount = maxArrayCount
        return try parser.parseDocument()
    }

    /// Parses one JSON document from text.
    public static func parse(_ text: String) throws(JSONError) -> JSON {
        try parse(Array(text.utf8))
    }

    /// The member `key` of the object that `bytes` starts, read as far as the
    /// bytes allow: a document that breaks after the member still gives it.
    /// A reply to a malformed request echoes the request's id this way.
    /// - Returns: nil when the member cannot be read before the first error.
    /// With `maxArrayCount`, an array of more elements before the member is damage.
    public static func member(_ key: String, readableIn bytes: some Collection<UInt8>, maxArrayCount: Int = .max) -> JSON? {
        var parser = JSONParser(bytes: Array(bytes))
        parser.maxArrayCount = maxArrayCount
        return parser.readableMember(key)
    }
}

// MARK: - Writing and converting

extension JSON {
    /// The value as compact JSON text, keys sorted.
    public var text: String {
        var writer = JSONWriter()
        writer.json(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Converts a table value to JSON.
    public init(_ value: Value) {
        switch value {
        case .int(let number): self = .int(number)
        case .float(let number): self = .float(number)
        case .string(let text): self = .string(text)
        }
    }

    /// Converts rows to a JSON array of arrays.
    public init(rows: some Sequence<[Value]>) {
        self = .array(rows.map { .array($0.map(JSON.init)) })
    }
}
