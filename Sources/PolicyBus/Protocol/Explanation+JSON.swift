import PolicyEngine

/// Explanations on the wire (the `explain` op) and in `eval --explain --json`:
/// `{"table", "row", "complete", "derivations": [NODE]}`, each NODE
/// `{"table", "row", "reason", "rule"?, "body": [NODE]}`; `reason` is `fact`,
/// `rule`, `absent` or `bound`, and an absent pattern's "any value" columns are null.
extension Explanation {
    public var json: JSON {
        .object([
            "table": .string(table.description),
            "row": .array(row.map(JSON.init)),
            "complete": .bool(complete),
            "derivations": .array(derivations.map(\.json)),
        ])
    }

    /// Reads an explanation back, as a client receives it.
    /// - Throws: `bad-reply` when a field is missing or of the wrong type.
    public init(json: JSON) throws(BusError) {
        guard let table = json["table"]?.stringValue.flatMap(TableID.init), let row = json["row"],
            case .bool(let complete)? = json["complete"], let derivations = json["derivations"]?.arrayValue
        else { throw BusError(.badReply, "an explanation needs table, row, complete and derivations") }
        self.init(
            table: table, row: try RowCodec.row(row), derivations: try derivations.map { (node) throws(BusError) in try Derivation(json: node) },
            complete: complete)
    }
}

extension Derivation {
    public var json: JSON {
        var members: [String: JSON] = [
            "table": .string(table.description),
            "row": .array(row.map { $0.map(JSON.init) ?? .null }),
            "body": .array(body.map(\.json)),
        ]
        switch reason {
        case .fact: members["reason"] = .string("fact")
        case .absent: members["reason"] = .string("absent")
        case .bound: members["reason"] = .string("bound")
        case .rule(let policy, let text, let line):
            members["reason"] = .string("rule")
            members["rule"] = .object(["policy": .string(policy), "text": .string(text), "line": .int(Int64(line))])
        }
        return .object(members)
    }

    public init(json: JSON) throws(BusError) {
        let bad = BusError(.badReply, "a derivation needs table, row, reason and body")
        guard let table = json["table"]?.stringValue.flatMap(TableID.init), let cells = json["row"]?.arrayValue,
            let body = json["body"]?.arrayValue
        else { throw bad }
        let row = try cells.map { (cell) throws(BusError) -> Value? in cell == .null ? nil : try RowCodec.value(cell) }
        let reason: Reason
        switch json["reason"]?.stringValue {
        case "fact": reason = .fact
        case "absent": reason = .absent
        case "bound": reason = .bound
        case "rule":
            guard let rule = json["rule"], let policy = rule["policy"]?.stringValue, let text = rule["text"]?.stringValue,
                let line = rule["line"]?.intValue
            else { throw bad }
            reason = .rule(policy: policy, text: text, line: Int(line))
        default: throw bad
        }
        self.init(table: table, row: row, reason: reason, body: try body.map { (node) throws(BusError) in try Derivation(json: node) })
    }
}
