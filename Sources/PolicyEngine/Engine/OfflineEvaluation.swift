import Foundation

extension PolicyError.Code {
    /// A facts file (JSON) is malformed or holds a value that is not an integer, float or string.
    public static let invalidFacts = PolicyError.Code(rawValue: "invalid-facts")
    /// A file could not be read.
    public static let unreadableFile = PolicyError.Code(rawValue: "unreadable-file")
}

/// Offline evaluation, as `policybus eval` does it: load policies and facts into a
/// fresh engine and read tables back. The CLI only handles files and printing.
public enum OfflineEvaluation {
    /// A policy to load: its name and text.
    public struct PolicySource: Sendable {
        public var name: String
        public var text: String
        public init(name: String, text: String) {
            self.name = name
            self.text = text
        }
    }

    /// Loads the policies (all rules in one transaction, so they may refer to each
    /// other), then the facts, and returns the requested tables (all when `tables`
    /// is empty). Unqualified table names belong to the first policy. `schemas`
    /// names the columns of data source tables, for rules that use column names.
    public static func evaluate(
        policies: [PolicySource], facts: [(table: String, rows: [[Value]])], tables: [String],
        schemas: [TableID: [String]] = [:]
    ) throws(PolicyError) -> [(table: TableID, rows: [[Value]])] {
        let engine = Engine()
        for (table, columns) in schemas { engine.declareColumns(columns, for: table) }
        for policy in policies { try engine.createPolicy(policy.name) }
        var transaction = Transaction()
        for policy in policies { transaction.insertRules(policy.text, policy: policy.name) }
        try engine.apply(transaction)
        let defaultPolicy = policies.first?.name
        var factTransaction = Transaction()
        for (name, rows) in facts {
            let table = try tableID(name, defaultPolicy: defaultPolicy)
            for row in rows { factTransaction.insert(row, into: table) }
        }
        try engine.apply(factTransaction)
        if tables.isEmpty { return engine.tables.map { ($0, engine.rows(of: $0)) } }
        var result: [(table: TableID, rows: [[Value]])] = []
        for name in tables {
            let table = try tableID(name, defaultPolicy: defaultPolicy)
            guard engine.contains(table) else {
                throw PolicyError(.unknownTable, "no table \(table); run without --table to list every table")
            }
            result.append((table, engine.rows(of: table)))
        }
        return result
    }

    static func tableID(_ name: String, defaultPolicy: String?) throws(PolicyError) -> TableID {
        if name.contains(":") {
            guard let table = TableID(name) else {
                throw PolicyError(.invalidFacts, "'\(name)' is not a table name: write name or service:name")
            }
            return table
        }
        guard let defaultPolicy, TableID.isIdentifier(name) else {
            throw PolicyError(.invalidFacts, "'\(name)' is not a table name: write name or service:name")
        }
        return TableID(service: defaultPolicy, name: name)
    }

    // MARK: - Facts files

    /// Parses a facts file: `{"table": [[v1, v2], ...], "service:table": [...]}`.
    /// JSON integers become integers and JSON numbers with a fraction or exponent
    /// become floats (`1` and `1.0` differ); booleans and nulls are rejected.
    public static func parseFacts(_ data: Data) throws(PolicyError) -> [(table: String, rows: [[Value]])] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw PolicyError(.invalidFacts, "the facts file is not valid JSON: \(error.localizedDescription)")
        }
        guard let tables = object as? [String: Any] else {
            throw PolicyError(.invalidFacts, "the facts file must be a JSON object mapping table names to arrays of rows")
        }
        var result: [(table: String, rows: [[Value]])] = []
        for name in tables.keys.sorted() {
            guard let rows = tables[name] as? [Any] else {
                throw PolicyError(.invalidFacts, "the facts of '\(name)' must be an array of rows (arrays)")
            }
            var parsed: [[Value]] = []
            for (index, row) in rows.enumerated() {
                guard let cells = row as? [Any] else {
                    throw PolicyError(.invalidFacts, "row \(index) of '\(name)' must be an array of values")
                }
                var values: [Value] = []
                for cell in cells {
                    guard let value = value(cell) else {
                        throw PolicyError(
                            .invalidFacts,
                            "row \(index) of '\(name)' holds \(describe(cell)); values must be integers, floats or strings")
                    }
                    values.append(value)
                }
                parsed.append(values)
            }
            result.append((name, parsed))
        }
        return result
    }

    private static func describe(_ cell: Any) -> String {
        if cell is NSNull { return "null" }
        if let number = cell as? NSNumber, ["c", "B"].contains(String(cString: number.objCType)) { return "a boolean" }
        if cell is [Any] { return "a nested array" }
        if cell is [String: Any] { return "an object" }
        return "\(cell)"
    }

    /// A JSON scalar as a value. `NSNumber` bridges every JSON number (and
    /// boolean), so its Objective-C type code tells integers from floats.
    static func value(_ cell: Any) -> Value? {
        if let string = cell as? String { return .string(string) }
        guard let number = cell as? NSNumber else { return nil }
        switch String(cString: number.objCType) {
        case "d", "f": return .float(number.doubleValue)
        case "c", "B": return nil  // JSON true/false
        case "Q", "L", "I", "S", "C":
            guard number.uint64Value <= UInt64(Int64.max) else { return nil }
            return .int(number.int64Value)
        default: return .int(number.int64Value)
        }
    }

    // MARK: - Output

    /// `{"tables": {"name": [[v1, v2], ...], ...}}`, tables and rows sorted.
    public static func json(_ tables: [(table: TableID, rows: [[Value]])]) -> String {
        let entries = tables.sorted { $0.table < $1.table }.map { table, rows in
            let body = rows.map { "[" + $0.map(json).joined(separator: ", ") + "]" }.joined(separator: ", ")
            return jsonString(table.description) + ": [" + body + "]"
        }
        return "{\"tables\": {" + entries.joined(separator: ", ") + "}}"
    }

    /// `{"error": {"code": ..., "message": ..., "line": N, "column": N}}`; line and column are null when unknown.
    public static func json(_ error: PolicyError) -> String {
        let line = error.location.map { String($0.line) } ?? "null"
        let column = error.location.map { String($0.column) } ?? "null"
        return "{\"error\": {\"code\": \(jsonString(error.code.rawValue)), \"message\": \(jsonString(error.message)), "
            + "\"line\": \(line), \"column\": \(column)}}"
    }

    /// Readable output: each table's rows as facts, one per line.
    public static func text(_ tables: [(table: TableID, rows: [[Value]])]) -> String {
        var out = ""
        for (table, rows) in tables.sorted(by: { $0.table < $1.table }) {
            out += "# \(table): \(rows.count) \(rows.count == 1 ? "row" : "rows")\n"
            for row in rows { out += "\(table)(\(row.map(\.description).joined(separator: ", ")))\n" }
        }
        return out
    }

    static func json(_ value: Value) -> String {
        switch value {
        case .int(let number): return String(number)
        // JSON has no NaN or infinity: written as strings, as the bus does.
        case .float(let number):
            if number.isFinite { return value.description }
            return number.isNaN ? "\"NaN\"" : number > 0 ? "\"Infinity\"" : "\"-Infinity\""
        case .string(let string): return jsonString(string)
        }
    }

    static func jsonString(_ string: String) -> String {
        Value.quoted(string)
    }
}
