/// What the engine keeps of the front end between transactions: every rule's
/// syntax (the checker re-checks the whole program when rules change) and the
/// last checked program (queries are checked against it).
struct FrontEndState {
    var syntax: [RuleKey: RuleSyntax] = [:]
    var program = CheckedProgram()
}

extension PolicyError.Code {
    /// Rule text names a table longer than `Engine.maxTableNameLength`.
    public static let badTableName = PolicyError.Code(rawValue: "bad-table-name")
}

extension Engine {
    /// A checker that knows this engine's policies, declared columns and stored tables.
    func makeChecker() -> ProgramChecker {
        var arities: [TableID: Int] = [:]
        for (id, state) in tableStates where !state.rows.isEmpty || columnNames[id] != nil { arities[id] = state.arity }
        return ProgramChecker(policies: policySet, schemas: columnNames, factArities: arities)
    }

    /// Parses and checks the transaction's text operations: the net rule changes
    /// and the row operations, in order.
    func lower(_ transaction: Transaction) throws(PolicyError) -> LoweredTransaction {
        var lowered = LoweredTransaction()
        var syntax = frontEnd.syntax
        var checkedRules: [RuleKey: CheckedRule] = [:]
        var ruleSet = Set(rulesByKey.keys)
        var insertedFacts: [Fact] = []
        var syntaxErrors: [PolicyError] = []
        var hasText = false
        for operation in transaction.operations {
            // A transaction of a million rows takes a while to lower too.
            pauses.row()
            switch operation {
            case .insertRow(let table, let row): lowered.rowOperations.append(.insert(table, row))
            case .deleteRow(let table, let row): lowered.rowOperations.append(.delete(table, row))
            case .replace(let table, let rows): lowered.rowOperations.append(.replace(table, rows))
            case .replaceWithSet(let table, let rows): lowered.rowOperations.append(.replaceWithSet(table, rows))
            case .insertRule(let rule):
                let key = RuleKey(policy: rule.policy, text: rule.text)
                if ruleSet.insert(key).inserted { checkedRules[key] = rule }
            case .deleteRule(let key):
                guard ruleSet.remove(key) != nil else {
                    throw PolicyError(.unknownRule, "policy '\(key.policy)' has no rule '\(key.text)'")
                }
                checkedRules[key] = nil
                syntax[key] = nil
            case .insertRules(let text, let policy):
                hasText = true
                try requirePolicy(policy)
                // Every statement that parses is checked too, so that the
                // text's errors of every kind are reported together.
                let (parsed, errors) = try PolicyParser.parseRecovering(text, policy: policy)
                // Text with a syntax error gets that error instead.
                if errors.isEmpty { try checkTableNames(parsed, policy: policy) }
                syntaxErrors += errors
                for rule in parsed.rules {
                    let key = RuleKey(policy: policy, text: rule.text)
                    if ruleSet.insert(key).inserted { syntax[key] = rule }
                }
                for fact in parsed.facts { lowered.rowOperations.append(.insert(fact.table, fact.values)) }
                insertedFacts += parsed.facts
            case .deleteRules(let text, let policy):
                hasText = true
                try requirePolicy(policy)
                let parsed = try PolicyParser.parse(text, policy: policy)
                try checkTableNames(parsed, policy: policy)
                for rule in parsed.rules {
                    let key = RuleKey(policy: policy, text: rule.text)
                    guard ruleSet.remove(key) != nil else {
                        throw PolicyError(.unknownRule, "policy '\(policy)' has no rule '\(rule.text)'; list its rules to see their exact text", at: rule.location)
                    }
                    syntax[key] = nil
                    checkedRules[key] = nil
                }
                for fact in parsed.facts { lowered.rowOperations.append(.delete(fact.table, fact.values)) }
            }
        }

        let before = Set(rulesByKey.keys)
        if hasText {
            let keys = syntax.keys.sorted()
            let program: CheckedProgram
            do throws(PolicyError) {
                program = try makeChecker().check(keys.map { syntax[$0]! }, facts: insertedFacts)
            } catch {
                throw PolicyError.reporting(syntaxErrors + [error])!
            }
            if let first = PolicyError.reporting(syntaxErrors) { throw first }
            for (key, rule) in zip(keys, program.rules) where !before.contains(key) { checkedRules[key] = rule }
            lowered.frontEnd = FrontEndState(syntax: syntax, program: program)
        }
        lowered.addedRules = checkedRules.filter { !before.contains($0.key) }.sorted { $0.key < $1.key }.map(\.value)
        lowered.removedRules = before.subtracting(ruleSet).sorted()
        return lowered
    }

    /// Refuses text that names a table (qualified) longer than
    /// `maxTableNameLength`, in a rule's head or body or in a fact.
    private func checkTableNames(_ parsed: ParsedPolicy, policy: String) throws(PolicyError) {
        guard maxTableNameLength < .max else { return }
        let atoms = parsed.rules.flatMap { rule in
            [rule.head] + rule.body.compactMap { literal -> AtomSyntax? in
                switch literal {
                case .positive(let atom), .negative(let atom, _): atom
                case .comparison: nil
                }
            }
        }
        let lengths = atoms.map { ($0.service ?? policy).utf8.count + 1 + $0.name.utf8.count }
            + parsed.facts.map { $0.table.description.utf8.count }
        if let long = lengths.first(where: { $0 > maxTableNameLength }) {
            throw PolicyError(.badTableName, "the rule text names a table of \(long) bytes; the limit is \(maxTableNameLength)")
        }
    }

    private func requirePolicy(_ policy: String) throws(PolicyError) {
        guard policySet.contains(policy) else {
            throw PolicyError(.unknownPolicy, "there is no policy '\(policy)'; create it first")
        }
    }

    /// Selects the rows of a table that match a query such as `alice:error(x)`,
    /// `p(1, y)` or a bare table name. Returns whole rows, sorted.
    /// - Parameters:
    ///   - defaultPolicy: The policy unqualified table names belong to.
    ///   - sorted: the queried table's rows sorted by the caller (at a
    ///     version of its choosing), read instead of `rows(of:)`.
    /// - Throws: `syntax-error`, `unknown-table`, `arity-mismatch`, `unknown-column`.
    public func query(_ text: String, defaultPolicy: String? = nil, sorted: (table: TableID, rows: [[Value]])? = nil) throws(PolicyError) -> [[Value]] {
        let syntax = try PolicyParser.parseQuery(text, defaultPolicy: defaultPolicy)
        var checker = makeChecker()
        for (id, state) in tableStates { checker.factArities[id] = state.arity }
        let query = try checker.checkQuery(syntax, program: frontEnd.program)
        // A bare table, or distinct variables: every row, without copying them.
        var slots: Set<Int> = []
        let matchesEveryRow = query.patterns.allSatisfy { pattern in
            switch pattern {
            case .wildcard: true
            case .constant: false
            case .variable(let slot): slots.insert(slot).inserted
            }
        }
        let rows = sorted.flatMap { $0.table == query.table ? $0.rows : nil } ?? rows(of: query.table)
        if matchesEveryRow { return rows }
        return rows.filter { row in
            var bindings = [Value?](repeating: nil, count: query.variableNames.count)
            for (pattern, value) in zip(query.patterns, row) {
                switch pattern {
                case .wildcard: continue
                case .constant(let constant): if constant != value { return false }
                case .variable(let slot):
                    if let bound = bindings[slot], bound != value { return false }
                    bindings[slot] = value
                }
            }
            return true
        }
    }
}
