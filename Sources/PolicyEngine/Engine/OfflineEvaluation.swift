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
        schemas: [TableID: [String]] = [:], budget: TransactionBudget = .unlimited, allowUnknownFacts: Bool = true
    ) throws(PolicyError) -> [(table: TableID, rows: [[Value]])] {
        let engine = try load(policies: policies, facts: facts, schemas: schemas, budget: budget, allowUnknownFacts: allowUnknownFacts)
        let defaultPolicy = policies.first?.name
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

    /// A fresh engine with the policies (all rules in one transaction), then
    /// the facts, loaded; each of the two transactions within `budget`.
    /// Without `allowUnknownFacts`, facts for a table that no rule refers to
    /// and no schema declares are `unknown-table` (a misspelt key would
    /// otherwise pass unnoticed, and its rules see nothing).
    public static func load(
        policies: [PolicySource], facts: [(table: String, rows: [[Value]])], schemas: [TableID: [String]] = [:],
        budget: TransactionBudget = .unlimited, allowUnknownFacts: Bool = true
    ) throws(PolicyError) -> Engine {
        let engine = Engine()
        for (table, columns) in schemas { engine.declareColumns(columns, for: table) }
        for policy in policies { try engine.createPolicy(policy.name) }
        var transaction = Transaction()
        for policy in policies { transaction.insertRules(policy.text, policy: policy.name) }
        try engine.load(transaction, budget: budget)
        var factTransaction = Transaction()
        for (name, rows) in facts {
            let table = try tableID(name, defaultPolicy: policies.first?.name)
            guard allowUnknownFacts || engine.contains(table) else {
                throw PolicyError(.unknownTable, "facts for \(table), which no rule reads; give --allow-unknown-facts to load them anyway")
            }
            for row in rows { factTransaction.insert(row, into: table) }
        }
        try engine.load(factTransaction, budget: budget)
        return engine
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

    // MARK: - Output

    /// Readable output: each table's rows as facts, one per line.
    public static func text(_ tables: [(table: TableID, rows: [[Value]])]) -> String {
        var out = ""
        for (table, rows) in tables.sorted(by: { $0.table < $1.table }) {
            out += "# \(table): \(rows.count) \(rows.count == 1 ? "row" : "rows")\n"
            for row in rows { out += "\(table)(\(row.map(\.description).joined(separator: ", ")))\n" }
        }
        return out
    }
}
