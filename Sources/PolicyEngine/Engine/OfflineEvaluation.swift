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
        return try select(tables, in: engine, defaultPolicy: policies.first?.name).map { ($0, engine.rows(of: $0)) }
    }

    /// The tables named (every table, sorted, when `names` is empty); unqualified names belong to `defaultPolicy`.
    /// - Throws: `unknown-table` for a name the engine does not know.
    public static func select(_ names: [String], in engine: Engine, defaultPolicy: String?) throws(PolicyError) -> [TableID] {
        if names.isEmpty { return engine.tables }
        var result: [TableID] = []
        for name in names {
            let table = try tableID(name, defaultPolicy: defaultPolicy)
            guard engine.contains(table) else {
                throw PolicyError(.unknownTable, "no table \(table); run without --table to list every table")
            }
            result.append(table)
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
        try load(policies: policies, facts: Facts(facts), schemas: schemas, budget: budget, allowUnknownFacts: allowUnknownFacts)
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
}
