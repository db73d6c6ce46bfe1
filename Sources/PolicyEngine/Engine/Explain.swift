/// `explain`: why a row is in its table, as a derivation tree down to facts.
extension Engine {
    /// Explains every row of `query`'s table that matches it (at most `limits.derivations` rows).
    /// - Parameters:
    ///   - query: A query such as `alice:error("vm4", x, y)`.
    ///   - defaultPolicy: The policy unqualified table names belong to.
    ///   - all: Every derivation of each row (up to `limits.derivations`), not just one.
    /// - Throws: The query's errors: `syntax-error`, `unknown-table`,
    ///   `arity-mismatch`, `unknown-column`; `too-expensive` past `limits.milliseconds`.
    public func explain(
        _ query: String, defaultPolicy: String? = nil, all: Bool = false, limits: ExplainLimits = ExplainLimits()
    ) throws(PolicyError) -> [Explanation] {
        let table = try PolicyParser.parseQuery(query, defaultPolicy: defaultPolicy).table
        let rows = try self.query(query, defaultPolicy: defaultPolicy)
        var explainer = Explainer(engine: self, limits: limits)
        // The joins of one row's search read the same deadline, so that a
        // row whose rules scan much cannot run past it.
        pauses.begin()
        if let milliseconds = limits.milliseconds {
            executor.arm(TransactionBudget(derivedRows: .max, computedBytes: .max, milliseconds: milliseconds))
        }
        defer { if limits.milliseconds != nil { _ = executor.disarm() } }
        let explanations = rows.prefix(limits.derivations).compactMap { explainer.explain($0, in: table, all: all) }
        if explainer.outOfTime, let milliseconds = limits.milliseconds {
            throw PolicyError(.tooExpensive, "explain ran out of time (\(milliseconds) ms) after \(explainer.visited) rows examined; ask about fewer rows")
        }
        return explanations
    }
}

/// A depth-first search for well-founded derivations, bounded in rows and depth.
///
/// A row on the path from the root is never used again below itself, so every
/// tree is finite and well founded. In a recursive stratum whose rows carry
/// well-founded ranks (see `Engine+Ranks`), only instances whose stratum rows
/// rank lower are tried, so the first one always succeeds; elsewhere a failed
/// instance is abandoned for the next. Rows explained once are reused.
struct Explainer {
    private struct Key: Hashable {
        var table: ObjectIdentifier
        var row: [UInt32]
    }

    /// One rule instance deriving a row: its rule and, per table literal, the row or the absent pattern.
    private struct Instance {
        var rule: CompiledRule
        var body: [(table: TableState, row: [UInt32], negated: Bool)]
    }

    let engine: Engine
    let limits: ExplainLimits
    private(set) var visited = 0
    private var reachedBound = false
    private let deadline: ContinuousClock.Instant?
    /// Whether `limits.milliseconds` ran out: every search since stopped at once.
    private(set) var outOfTime = false
    private var explained: [Key: Derivation] = [:]
    private var path: Set<Key> = []

    init(engine: Engine, limits: ExplainLimits) {
        self.engine = engine
        self.limits = limits
        deadline = limits.milliseconds.map { ContinuousClock.now + .milliseconds(min($0, 365 * 86_400_000)) }
    }

    mutating func explain(_ values: [Value], in id: TableID, all: Bool) -> Explanation? {
        guard let table = engine.tableStates[id], let row = engine.pool.ids(of: values), let rowID = table.rows.find(row) else {
            return nil
        }
        reachedBound = false
        var derivations: [Derivation] = []
        if all {
            if table.isFact(rowID) || !table.isDerived { derivations.append(Derivation(table: id, row: values, reason: .fact)) }
            let key = Key(table: ObjectIdentifier(table), row: row)
            path.insert(key)
            for instance in instances(table, row, ranked: false) where derivations.count < limits.derivations && !outOfTime {
                if let derivation = derive(table, row, instance, depth: 0) { derivations.append(derivation) }
            }
            path.remove(key)
        } else if let derivation = derive(table, row, depth: 0) {
            derivations.append(derivation)
        }
        return Explanation(table: id, row: values, derivations: derivations, complete: !reachedBound)
    }

    /// One derivation of a stored row, or nil when none avoids the rows on the path.
    private mutating func derive(_ table: TableState, _ row: [UInt32], depth: Int) -> Derivation? {
        let key = Key(table: ObjectIdentifier(table), row: row)
        if let known = explained[key] { return known }
        let values = engine.values(row).map(Optional.some)
        visited += 1
        checkTime()
        guard !outOfTime, visited <= limits.rowsVisited, depth <= limits.depth else {
            reachedBound = true
            return Derivation(table: table.id, row: values, reason: .bound)
        }
        guard let id = table.rows.find(row) else { return nil }
        if table.isFact(id) || !table.isDerived {
            return remember(key, Derivation(table: table.id, row: values, reason: .fact))
        }
        path.insert(key)
        defer { path.remove(key) }
        for instance in instances(table, row) where !outOfTime {
            if let derivation = derive(table, row, instance, depth: depth) { return remember(key, derivation) }
        }
        return nil
    }

    /// Reads the clock: at every row examined, and after each search of a
    /// row's instances, whose joins the executor stops at the same deadline.
    private mutating func checkTime() {
        engine.pauses.row()
        // Out of time, or asked to stop (`Engine.pause`).
        if engine.executor.exhausted != nil || engine.pauses.stopRequested { outOfTime = true }
        if let deadline, ContinuousClock.now >= deadline { outOfTime = true }
    }

    private mutating func remember(_ key: Key, _ derivation: Derivation) -> Derivation {
        explained[key] = derivation
        return derivation
    }

    /// The derivation through one instance, or nil when a body row has none here.
    private mutating func derive(_ table: TableState, _ row: [UInt32], _ instance: Instance, depth: Int) -> Derivation? {
        var body: [Derivation] = []
        for element in instance.body {
            if element.negated {
                let pattern = element.row.map { $0 == Executor.unbound ? nil : engine.pool[$0] }
                body.append(Derivation(table: element.table.id, row: pattern, reason: .absent))
                continue
            }
            guard !path.contains(Key(table: ObjectIdentifier(element.table), row: element.row)),
                let child = derive(element.table, element.row, depth: depth + 1)
            else { return nil }
            body.append(child)
        }
        let rule = instance.rule.rule
        return Derivation(
            table: table.id, row: engine.values(row).map(Optional.some),
            reason: .rule(policy: rule.policy, text: rule.text, line: rule.location.line), body: body)
    }

    /// Every rule instance that derives `row` from the stored rows; when
    /// `ranked`, in a ranked recursive stratum, only those whose stratum rows rank below it.
    private mutating func instances(_ table: TableState, _ row: [UInt32], ranked: Bool = true) -> [Instance] {
        defer { checkTime() }
        let ranks = ranked ? rankFilter(table, row) : nil
        var result: [Instance] = []
        let executor = engine.executor
        for rule in engine.graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
            executor.run(rule, seed: CompiledRule.headBoundPlan, views: rule.currentViews, seedBind: { bindings in
                Executor.bindHead(rule.headArguments, row: row, into: &bindings)
            }) { head in
                guard head == row else { return true }
                var body: [(table: TableState, row: [UInt32], negated: Bool)] = []
                for literal in rule.literals {
                    switch literal {
                    case .positive(let bodyTable, let patterns): body.append((bodyTable, executor.values(of: patterns), false))
                    case .negative(let bodyTable, let patterns): body.append((bodyTable, executor.values(of: patterns), true))
                    case .function, .comparison: continue
                    }
                }
                if let ranks, !ranks.admits(body.filter { !$0.negated }.map { ($0.table, $0.row) }) { return true }
                result.append(Instance(rule: rule, body: body))
                return true
            }
        }
        return result
    }

    private struct RankFilter {
        var members: Set<ObjectIdentifier>
        var rank: Int32

        func admits(_ rows: [(TableState, [UInt32])]) -> Bool {
            rows.allSatisfy { table, row in
                guard members.contains(ObjectIdentifier(table)) else { return true }
                guard let id = table.rows.find(row) else { return false }
                return table.counts[Int(id)] < rank
            }
        }
    }

    /// The row's rank and its stratum, when the row is in a recursive stratum with valid ranks.
    private func rankFilter(_ table: TableState, _ row: [UInt32]) -> RankFilter? {
        guard let index = engine.graph.stratumOf[ObjectIdentifier(table)] else { return nil }
        let stratum = engine.graph.strata[index]
        let members = Set(stratum.tables.map(ObjectIdentifier.init))
        guard stratum.recursive, engine.ranksValid(stratum.tables, members: members), let id = table.rows.find(row) else {
            return nil
        }
        return RankFilter(members: members, rank: table.counts[Int(id)])
    }
}
