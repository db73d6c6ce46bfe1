public import PolicyEngine

/// One change the engine accepted through its control API.
///
/// Replaying a log's records in order, on an engine that has loaded its
/// command-line policy files, rebuilds the state the engine had.
public enum LogRecord: Hashable, Sendable {
    /// A new, empty policy.
    case createPolicy(name: String)
    /// Rules added to a policy, as the policy text that was accepted.
    case insertRules(policy: String, text: String)
    /// Rules removed from a policy, as the text that named them.
    case deleteRules(policy: String, text: String)
    /// Rows added to a table, e.g. `alice:owner`.
    case insertFacts(table: String, rows: [[Value]])
    /// Rows removed from a table.
    case deleteFacts(table: String, rows: [[Value]])
}

// MARK: - JSON

/// Records are stored as JSON objects with an `op` field, so that a person can
/// read a log with `strings` and a later version can add fields.
///
/// Values: an integer is a JSON integer, a string a JSON string, and a float
/// `{"float":"2.5"}`. JSON numbers would not keep `2` and `2.0` apart, nor
/// carry NaN or infinities; Swift's shortest round-tripping description does.
extension LogRecord: Codable {
    private enum CodingKeys: String, CodingKey {
        case op, name, policy, text, table, rows
    }

    private enum Op: String, Codable {
        case createPolicy = "create-policy"
        case insertRules = "insert-rules"
        case deleteRules = "delete-rules"
        case insertFacts = "insert-facts"
        case deleteFacts = "delete-facts"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Op.self, forKey: .op) {
        case .createPolicy:
            self = .createPolicy(name: try container.decode(String.self, forKey: .name))
        case .insertRules:
            self = .insertRules(
                policy: try container.decode(String.self, forKey: .policy),
                text: try container.decode(String.self, forKey: .text))
        case .deleteRules:
            self = .deleteRules(
                policy: try container.decode(String.self, forKey: .policy),
                text: try container.decode(String.self, forKey: .text))
        case .insertFacts:
            self = .insertFacts(
                table: try container.decode(String.self, forKey: .table),
                rows: try container.decode([[StoredValue]].self, forKey: .rows).map { $0.map(\.value) })
        case .deleteFacts:
            self = .deleteFacts(
                table: try container.decode(String.self, forKey: .table),
                rows: try container.decode([[StoredValue]].self, forKey: .rows).map { $0.map(\.value) })
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .createPolicy(let name):
            try container.encode(Op.createPolicy, forKey: .op)
            try container.encode(name, forKey: .name)
        case .insertRules(let policy, let text):
            try container.encode(Op.insertRules, forKey: .op)
            try container.encode(policy, forKey: .policy)
            try container.encode(text, forKey: .text)
        case .deleteRules(let policy, let text):
            try container.encode(Op.deleteRules, forKey: .op)
            try container.encode(policy, forKey: .policy)
            try container.encode(text, forKey: .text)
        case .insertFacts(let table, let rows):
            try container.encode(Op.insertFacts, forKey: .op)
            try container.encode(table, forKey: .table)
            try container.encode(rows.map { $0.map(StoredValue.init) }, forKey: .rows)
        case .deleteFacts(let table, let rows):
            try container.encode(Op.deleteFacts, forKey: .op)
            try container.encode(table, forKey: .table)
            try container.encode(rows.map { $0.map(StoredValue.init) }, forKey: .rows)
        }
    }
}

/// The log's JSON form of a ``Value``; see ``LogRecord``'s Codable conformance.
struct StoredValue: Codable {
    var value: Value

    init(_ value: Value) { self.value = value }

    private enum CodingKeys: String, CodingKey { case float }

    init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer() {
            if let string = try? single.decode(String.self) {
                value = .string(string)
                return
            }
            if let int = try? single.decode(Int64.self) {
                value = .int(int)
                return
            }
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .float)
        guard let float = Double(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .float, in: container, debugDescription: "not a float: \(text)")
        }
        value = .float(float)
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .int(let int):
            var single = encoder.singleValueContainer()
            try single.encode(int)
        case .string(let string):
            var single = encoder.singleValueContainer()
            try single.encode(string)
        case .float(let float):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(String(float), forKey: .float)
        }
    }
}
