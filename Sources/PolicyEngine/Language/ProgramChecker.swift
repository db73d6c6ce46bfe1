/// Checks a whole program (the rules of every policy) and lowers it for the engine.
///
/// The checker knows the world outside the rules through its initializer: which
/// policies exist, which tables have declared columns, and which tables already
/// hold rows. It never changes anything, so a rejected change leaves no trace.
public struct ProgramChecker: Sendable {
    /// The names of the policies that exist.
    public var policies: Set<String>
    /// Declared column names of tables (data sources declare them).
    public var schemas: [TableID: [String]]
    /// The arity of every table that already holds facts or rows.
    public var factArities: [TableID: Int]

    /// Tables that a policy defines through rule heads or facts; set per check.
    private var defined: Set<TableID> = []

    /// - Parameters:
    ///   - policies: The names of the policies that exist. A reference to `bob:t`
    ///     where `bob` is a policy is to a policy table; other services are base tables.
    ///   - schemas: Declared column names of tables, for named-column references.
    ///   - factArities: The arity of every table that already holds facts or rows.
    public init(policies: Set<String>, schemas: [TableID: [String]] = [:], factArities: [TableID: Int] = [:]) {
        self.policies = policies
        self.schemas = schemas
        self.factArities = factArities
    }

    /// Whether the program defines `table` (so its bare name shadows a builtin).
    func defines(_ table: TableID) -> Bool { defined.contains(table) }

    /// Checks the whole program (all rules of all policies) and lowers it.
    ///
    /// - Parameter rules: Every rule of every policy.
    /// - Returns: The lowered rules in the same order, with strata and arities.
    /// - Throws: The first `PolicyError` by policy, line and column, with the next ones in `others`.
    public func check(_ rules: [RuleSyntax]) throws(PolicyError) -> CheckedProgram {
        try check(rules, facts: [])
    }

    /// Checks the whole program together with facts about to be inserted.
    ///
    /// The facts count as defining their tables (shadowing builtins of the same
    /// bare name) and their widths are checked against every other use
    /// (`arity-mismatch`). Facts already stored belong in `factArities` instead.
    ///
    /// - Parameters:
    ///   - rules: Every rule of every policy.
    ///   - facts: Facts being inserted in the same change.
    /// - Returns: The lowered rules in the same order, with strata and arities.
    /// - Throws: The first `PolicyError` by policy, line and column, with the next ones in `others`.
    public func check(_ rules: [RuleSyntax], facts: [Fact]) throws(PolicyError) -> CheckedProgram {
        var checker = self
        checker.defined = Set(factArities.keys).union(facts.map(\.table))
        for rule in rules { checker.defined.insert(TableID(service: rule.policy, name: rule.head.name)) }
        return try checker.checkDefined(rules, facts: facts)
    }

    private func checkDefined(_ rules: [RuleSyntax], facts: [Fact]) throws(PolicyError) -> CheckedProgram {
        var errors: [PolicyError] = []
        var uses: [TableUse] = []
        var lowered: [CheckedRule] = []
        var dependencies: [(head: TableID, uses: [TableUse])] = []
        for rule in rules {
            var lowering = RuleLowering(rule: rule, context: self)
            let checked = lowering.lower()
            lowered.append(checked)
            uses += lowering.uses
            dependencies.append((checked.head, lowering.uses.filter(\.inBody)))
            if lowering.errors.isEmpty {
                errors += SafetyCheck(steps: lowering.steps, head: lowering.headVariables).errors()
            } else {
                errors += lowering.errors
            }
        }
        for fact in facts {
            uses.append(TableUse(table: fact.table, arity: fact.values.count, location: fact.location, inBody: false, negated: false))
        }
        let arities = arityErrors(uses, into: &errors)
        let stratification = Stratifier(tables: Array(arities.keys), dependencies: dependencies).stratify()
        errors += stratification.errors
        if let first = PolicyError.reporting(errors) { throw first }
        var program = CheckedProgram(rules: lowered, strata: stratification.strata, arities: arities)
        program.components = stratification.components
        return program
    }

    /// The arity of every table used or stored; records a mismatch at every use that disagrees.
    private func arityErrors(_ uses: [TableUse], into errors: inout [PolicyError]) -> [TableID: Int] {
        var arities = factArities
        var firstUse: [TableID: SourceLocation] = [:]
        let sorted = uses.sorted { ($0.location.policy, $0.location.line, $0.location.column) < ($1.location.policy, $1.location.line, $1.location.column) }
        for use in sorted {
            let expected = arities[use.table] ?? schemas[use.table]?.count
            guard let expected else {
                arities[use.table] = use.arity
                firstUse[use.table] = use.location
                continue
            }
            arities[use.table] = expected
            guard expected != use.arity else { continue }
            let origin: String
            if let first = firstUse[use.table] {
                origin = "it is used with \(expected) at \(first.policy):\(first.line):\(first.column)"
            } else if factArities[use.table] != nil {
                origin = "its rows have \(expected)"
            } else {
                origin = "its declared columns are \(schemas[use.table]!.joined(separator: ", "))"
            }
            errors.append(
                PolicyError(
                    .arityMismatch,
                    "\(use.table) is used here with \(use.arity) \(use.arity == 1 ? "column" : "columns"), but \(origin); use the same number everywhere",
                    at: use.location))
        }
        return arities
    }

    /// Checks a query against the program and lowers it to patterns.
    ///
    /// - Parameters:
    ///   - query: A parsed query.
    ///   - program: The checked program the query runs against.
    /// - Returns: The table and one pattern per column.
    /// - Throws: `unknown-table`, `arity-mismatch`, `unknown-column`.
    public func checkQuery(_ query: QuerySyntax, program: CheckedProgram) throws(PolicyError) -> CheckedQuery {
        let table = query.table
        guard table.service != BuiltinName.service,
            let arity = program.arities[table] ?? factArities[table] ?? schemas[table]?.count
        else {
            throw PolicyError(.unknownTable, "no table \(table): no rule defines or reads it and no facts or schema name it", at: query.location)
        }
        guard let arguments = query.arguments else {
            return CheckedQuery(table: table, patterns: Array(repeating: .wildcard, count: arity), variableNames: [])
        }
        let atom = AtomSyntax(service: table.service, name: table.name, arguments: arguments, location: query.location)
        let empty = AtomSyntax(service: nil, name: table.name, arguments: [], location: query.location)
        var lowering = RuleLowering(
            rule: RuleSyntax(head: empty, body: [], policy: table.service, location: query.location), context: self)
        let patterns = lowering.queryPatterns(atom, table: table)
        if let first = PolicyError.reporting(lowering.errors) { throw first }
        guard patterns.count == arity else {
            throw PolicyError(
                .arityMismatch, "\(table) has \(arity) columns, but the query gives \(patterns.count)", at: query.location)
        }
        return CheckedQuery(table: table, patterns: patterns, variableNames: lowering.variableNames)
    }
}
