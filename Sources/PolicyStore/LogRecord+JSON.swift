import PolicyEngine

// MARK: - JSON

/// Records are stored as JSON objects with an `op` field, so that a person can
/// read a log with `strings` and a later version can add fields (a reader
/// ignores fields it does not know).
///
/// Values: an integer is a JSON integer, a string a JSON string, and a float
/// `{"float":"2.5"}`. JSON numbers would not keep `2` and `2.0` apart, nor
/// carry NaN or infinities; Swift's shortest round-tripping description does.
///
/// Logs written before the project's own JSON writer was used here (by
/// Foundation's `JSONEncoder`: other key orders, `\/` escapes) read the same;
/// `Tests/Corpus/durable-log/` keeps such records.
extension LogRecord {
    private enum Op: String {
        case createPolicy = "create-policy"
        case deletePolicy = "delete-policy"
        case insertRules = "insert-rules"
        case deleteRules = "delete-rules"
        case insertFacts = "insert-facts"
        case deleteFacts = "delete-facts"
    }

    /// The record's JSON payload.
    func encoded() -> [UInt8] {
        var writer = JSONWriter()
        switch self {
        case .createPolicy(let name), .deletePolicy(let name):
            Self.begin(&writer, isCreate ? .createPolicy : .deletePolicy)
            Self.field(&writer, "name", name)
        case .insertRules(let policy, let text), .deleteRules(let policy, let text):
            Self.begin(&writer, isInsert ? .insertRules : .deleteRules)
            Self.field(&writer, "policy", policy)
            Self.field(&writer, "text", text)
        case .insertFacts(let table, let rows), .deleteFacts(let table, let rows):
            Self.begin(&writer, isInsert ? .insertFacts : .deleteFacts)
            Self.field(&writer, "table", table)
            writer.raw(",\"rows\":[")
            for (index, row) in rows.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                Self.write(row, to: &writer)
            }
            writer.byte(UInt8(ascii: "]"))
        }
        writer.byte(UInt8(ascii: "}"))
        return writer.bytes
    }

    private var isInsert: Bool {
        switch self {
        case .insertRules, .insertFacts: true
        default: false
        }
    }

    private var isCreate: Bool {
        if case .createPolicy = self { return true }
        return false
    }

    private static func begin(_ writer: inout JSONWriter, _ op: Op) {
        writer.raw("{\"op\":")
        writer.string(op.rawValue)
    }

    private static func field(_ writer: inout JSONWriter, _ key: StaticString, _ value: String) {
        writer.byte(UInt8(ascii: ","))
        writer.byte(UInt8(ascii: "\""))
        writer.raw(key)
        writer.raw("\":")
        writer.string(value)
    }

    private static func write(_ row: [Value], to writer: inout JSONWriter) {
        writer.byte(UInt8(ascii: "["))
        for (index, value) in row.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            if case .float(let number) = value {
                writer.raw("{\"float\":")
                writer.string(String(number))
                writer.byte(UInt8(ascii: "}"))
            } else {
                writer.value(value)
            }
        }
        writer.byte(UInt8(ascii: "]"))
    }

    /// Reads a record's JSON payload.
    /// - Throws: ``StoreError`` `bad-record` naming what is wrong: malformed
    ///   JSON (an integer outside int64 included), an unknown op, a missing field.
    init(decoding payload: some Collection<UInt8>) throws(StoreError) {
        let json: JSON
        do {
            json = try JSON.parse(payload)
        } catch {
            throw StoreError(.badRecord, "not JSON: \(error.message)")
        }
        func string(_ key: String) throws(StoreError) -> String {
            guard let value = json[key]?.stringValue else { throw StoreError(.badRecord, "\"\(key)\" must be a string") }
            return value
        }
        func rows() throws(StoreError) -> [[Value]] {
            guard let rows = json["rows"]?.arrayValue else { throw StoreError(.badRecord, "\"rows\" must be an array") }
            var result: [[Value]] = []
            result.reserveCapacity(rows.count)
            for row in rows {
                guard let cells = row.arrayValue else { throw StoreError(.badRecord, "a row must be an array") }
                var values: [Value] = []
                values.reserveCapacity(cells.count)
                for cell in cells { values.append(try Self.value(cell)) }
                result.append(values)
            }
            return result
        }
        switch json["op"]?.stringValue.flatMap(Op.init(rawValue:)) {
        case .createPolicy?: self = .createPolicy(name: try string("name"))
        case .deletePolicy?: self = .deletePolicy(name: try string("name"))
        case .insertRules?: self = .insertRules(policy: try string("policy"), text: try string("text"))
        case .deleteRules?: self = .deleteRules(policy: try string("policy"), text: try string("text"))
        case .insertFacts?: self = .insertFacts(table: try string("table"), rows: try rows())
        case .deleteFacts?: self = .deleteFacts(table: try string("table"), rows: try rows())
        case nil: throw StoreError(.badRecord, "no known \"op\"")
        }
    }

    private static func value(_ json: JSON) throws(StoreError) -> Value {
        switch json {
        case .int(let number): return .int(number)
        case .string(let text): return .string(text)
        default:
            guard let text = json["float"]?.stringValue, let number = Double(text) else {
                throw StoreError(.badRecord, "a value must be an integer, a string or {\"float\": \"text\"}, not \(json.text)")
            }
            return .float(number)
        }
    }
}
