/// A whole program after checking: every rule lowered, with strata and arities.
public struct CheckedProgram: Sendable {
    /// The lowered rules, in the same order as the rules given to `ProgramChecker.check`.
    public var rules: [CheckedRule]
    /// The stratum of every table mentioned (and of every table in `factArities`).
    /// Base and fact-only tables are in stratum 0. A table's stratum is greater than
    /// that of any table it depends on negatively, and at least that of any table it
    /// depends on positively; the tables of one recursive cycle share a stratum.
    public var strata: [TableID: Int]
    /// The arity of every table mentioned, of every table in `factArities`, and of
    /// every table in `schemas` that the program mentions.
    public var arities: [TableID: Int]
    /// The strongly connected components of the dependency graph, dependencies
    /// first: the engine maintains its tables in this order.
    var components: [Stratifier.Component] = []

    public init(rules: [CheckedRule] = [], strata: [TableID: Int] = [:], arities: [TableID: Int] = [:]) {
        self.rules = rules
        self.strata = strata
        self.arities = arities
    }
}

/// A query after checking: the table and a pattern per column.
public struct CheckedQuery: Hashable, Sendable {
    public var table: TableID
    /// One pattern per column: `.wildcard` for `_`, unmentioned named columns and bare-table queries.
    /// A variable used twice (`p(x, x)`) must match the same value in both columns.
    public var patterns: [Pattern]
    /// Slot index to variable name.
    public var variableNames: [String]

    public init(table: TableID, patterns: [Pattern], variableNames: [String]) {
        self.table = table
        self.patterns = patterns
        self.variableNames = variableNames
    }
}
