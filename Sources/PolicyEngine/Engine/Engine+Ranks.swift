/// Well-founded row ranks for recursive strata (see `RankToken`).
extension Engine {
    /// Whether the stratum's tables hold ranks computed for exactly this set of tables.
    func ranksValid(_ tables: [TableState], members: Set<ObjectIdentifier>) -> Bool {
        guard let token = tables.first?.rankToken, token.members == members else { return false }
        return tables.allSatisfy { $0.rankToken === token }
    }

    /// The highest rank among the stratum rows of the derivation the executor is
    /// emitting (-1 when it uses none), or nil if one of them is not stored.
    func bodyRank(_ rule: CompiledRule, members: Set<ObjectIdentifier>) -> Int32? {
        var rank: Int32 = -1
        for literal in rule.literals {
            guard case .positive(let body, let patterns) = literal, members.contains(ObjectIdentifier(body)) else { continue }
            guard let id = body.rows.find(executor.values(of: patterns)) else { return nil }
            rank = max(rank, body.counts[Int(id)])
        }
        return rank
    }

    /// The lowest rank `row` can be re-derived with from the stored rows, or nil
    /// when no rule derives it.
    func rederivationRank(_ table: TableState, _ row: [UInt32], members: Set<ObjectIdentifier>) -> Int32? {
        var best: Int32?
        for rule in graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
            executor.run(rule, seed: CompiledRule.headBoundPlan, views: rule.currentViews, seedBind: { bindings in
                Executor.bindHead(rule.headArguments, row: row, into: &bindings)
            }) { head in
                guard head == row else { return true }
                // Head-bound plan in the current view: the matched ids are the body rows.
                best = min(best ?? Int32.max, matchedRank(rule, members: members) + 1)
                return best != 0
            }
        }
        return best
    }

    /// Calls `body(head, derived)` for each stratum row derived with `row` in a positive literal.
    func stratumDerivations(
        using table: TableState, _ row: [UInt32], members: Set<ObjectIdentifier>, view: View,
        _ body: (TableState, [UInt32]) -> Void
    ) {
        var heads: [(TableState, [UInt32])] = []
        runStratumRules(reading: table, seededWith: row, members: members, view: view) { rule, derived in
            heads.append((rule.head, derived))
        }
        for (head, derived) in heads { body(head, derived) }
    }

    /// Like `stratumDerivations`, with the highest rank of each derivation's stratum rows.
    func rankedDerivations(
        using table: TableState, _ row: [UInt32], members: Set<ObjectIdentifier>, view: View
    ) -> [(TableState, [UInt32], Int32)] {
        var heads: [(TableState, [UInt32], Int32)] = []
        runStratumRules(reading: table, seededWith: row, members: members, view: view) { rule, derived in
            heads.append((rule.head, derived, bodyRank(rule, members: members) ?? 0))
        }
        return heads
    }

    /// Runs each rule of the stratum that reads `table` in a positive literal,
    /// seeded with `row` there; `derived` gets the rule and each head row
    /// while the executor still holds that derivation's bindings.
    private func runStratumRules(
        reading table: TableState, seededWith row: [UInt32], members: Set<ObjectIdentifier>, view: View,
        _ derived: (CompiledRule, [UInt32]) -> Void
    ) {
        for use in graph.uses[ObjectIdentifier(table)] ?? [] {
            guard members.contains(ObjectIdentifier(use.rule.head)),
                case .positive(_, let patterns) = use.rule.literals[use.literal]
            else { continue }
            executor.run(use.rule, seed: use.literal, views: use.rule.views(view), seedBind: { bindings in
                Executor.bind(patterns, row: row, into: &bindings)
            }) { head in
                derived(use.rule, head)
                return true
            }
        }
    }

    /// Gives every row of a recursive stratum a well-founded rank from scratch,
    /// breadth first: facts and rows derived without stratum rows get 0, and a
    /// row first derived gets one more than the highest rank of its derivation's rows. Costs a full
    /// evaluation of the stratum; needed only when its tables were not ranked
    /// together before (it just became recursive, or strata merged or split).
    func rankStratum(_ tables: [TableState], members: Set<ObjectIdentifier>) {
        for table in tables { table.proof = ProofSets(arity: table.arity, pausing: pauses) }
        var queue: [(TableState, [UInt32], Int32)] = []
        func settle(_ table: TableState, _ row: [UInt32], _ rank: Int32) {
            guard let id = table.rows.find(row), table.proof!.proved.insert(row).inserted else { return }
            table.setCount(id, rank)
            queue.append((table, row, rank))
        }
        // Rows derived without stratum rows: collected before anything is settled.
        var base: [(TableState, [UInt32])] = []
        for table in tables {
            for rule in graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
                for row in collect(rule, seed: CompiledRule.fullPlan, view: .proved) { base.append((table, row)) }
            }
        }
        for table in tables {
            for id in table.rows.ids where table.isFact(id) { settle(table, table.rows.row(id), 0) }
        }
        for (table, row) in base { settle(table, row, 0) }
        var next = 0
        while next < queue.count {
            let (table, row, rank) = queue[next]
            next += 1
            for (head, derived, bodyRank) in rankedDerivations(using: table, row, members: members, view: .proved) {
                settle(head, derived, max(bodyRank, rank) + 1)
            }
        }
        let token = RankToken(members: members)
        for table in tables {
            table.proof = nil
            table.rankToken = token
        }
    }
}

extension Executor {
    /// The values a table literal's patterns match in the derivation being emitted.
    func values(of patterns: [SlotPattern]) -> [UInt32] {
        patterns.map { pattern in
            switch pattern {
            case .variable(let slot): value(of: slot)
            case .constant(let id): id
            case .wildcard: Executor.unbound  // not produced: positive wildcards have slots
            }
        }
    }
}

extension Engine {
    /// Rows of ranked recursive strata whose rank is not well founded: neither a
    /// fact nor derived from lower-ranked rows. Empty when the invariant that
    /// `RankedDeletion` relies on holds; the property tests check it.
    func rankViolations() -> [String] {
        var violations: [String] = []
        for stratum in graph.strata where stratum.recursive {
            let members = Set(stratum.tables.map(ObjectIdentifier.init))
            guard ranksValid(stratum.tables, members: members) else { continue }
            for table in stratum.tables {
                for id in table.rows.ids where !table.isFact(id) {
                    let row = table.rows.row(id)
                    let rank = table.counts[Int(id)]
                    guard let best = rederivationRank(table, row, members: members), best <= rank else {
                        violations.append("\(table.id)\(row.map { pool[$0] }) has rank \(rank) without a lower-ranked derivation")
                        continue
                    }
                }
            }
        }
        return violations
    }
}
