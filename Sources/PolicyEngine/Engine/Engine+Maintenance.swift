/// Incremental maintenance: counting for non-recursive strata, ranked
/// delete-and-re-derive for recursive ones.
extension Engine {
    /// Brings every derived table up to date with the committed fact and rule changes.
    func maintain(added: [CompiledRule], removed: [CompiledRule]) {
        var addedByHead: [ObjectIdentifier: [CompiledRule]] = [:]
        for rule in added { addedByHead[ObjectIdentifier(rule.head), default: []].append(rule) }
        var removedByHead: [ObjectIdentifier: [CompiledRule]] = [:]
        for rule in removed { removedByHead[ObjectIdentifier(rule.head), default: []].append(rule) }
        let addedSet = Set(added.map { ObjectIdentifier($0) })

        for stratum in graph.strata {
            // Out of budget (or stopped): the transaction is rolled back, so
            // the strata left need no work.
            if executor.exhausted != nil { return }
            let keys = stratum.tables.map(ObjectIdentifier.init)
            let rulesChanged = keys.contains { addedByHead[$0] != nil || removedByHead[$0] != nil }
            let dirty =
                rulesChanged || stratum.tables.contains { !$0.pendingFacts.isEmpty }
                || stratum.inputs.contains { $0.hasDelta }
            guard dirty else { continue }
            let addedHere = keys.flatMap { addedByHead[$0] ?? [] }
            let removedHere = keys.flatMap { removedByHead[$0] ?? [] }
            if stratum.recursive {
                maintainRecursive(stratum, added: addedHere, removed: removedHere, addedSet: addedSet)
            } else {
                count(stratum.tables[0], added: addedHere, removed: removedHere, addedSet: addedSet)
            }
        }
    }

    // MARK: - Counting

    /// Maintains a non-recursive table by derivation counts: the change in the
    /// number of derivations of each row, by the delta rule
    /// Δ(L1…Ln) = Σi new(L1…Li-1) · ΔLi · old(Li+1…Ln).
    private func count(_ table: TableState, added: [CompiledRule], removed: [CompiledRule], addedSet: Set<ObjectIdentifier>) {
        let rules = graph.rulesByHead[ObjectIdentifier(table)] ?? []
        let changes = CountChanges(arity: table.arity, pausing: pauses)
        if !table.countsValid {
            recount(table, rules: rules)
            return
        }
        for rule in added {
            run(rule, seed: CompiledRule.fullPlan, view: .current) { changes.add($0, 1) }
        }
        for rule in removed {
            run(rule, seed: CompiledRule.fullPlan, view: .old) { changes.add($0, -1) }
        }
        for rule in rules where !addedSet.contains(ObjectIdentifier(rule)) {
            for (position, literal) in rule.literals.enumerated() {
                guard let body = literal.table, body.hasDelta else { continue }
                var views = [View](repeating: .old, count: rule.literals.count)
                for earlier in 0..<position { views[earlier] = .current }
                seedDelta(rule, at: position, views: views, insertions: true, deletions: true) { row, sign in
                    changes.add(row, sign)
                }
            }
        }
        // A million counted rows of a refused change would be stored only to be undone.
        if executor.exhausted != nil { return }
        applyCounts(table, changes)
    }

    /// Recomputes a table's counts from scratch (after it stopped being recursive).
    private func recount(_ table: TableState, rules: [CompiledRule]) {
        let fresh = CountChanges(arity: table.arity, pausing: pauses)
        for rule in rules {
            run(rule, seed: CompiledRule.fullPlan, view: .current) { fresh.add($0, 1) }
        }
        // Turn absolute counts into changes against zeroed counts (they may have been ranks).
        table.rankToken = nil
        for id in table.rows.ids {
            pauses.row()
            table.setCount(id, 0)
        }
        table.countsValid = true
        applyCounts(table, fresh)
        // Rows neither derived nor facts any more.
        for id in table.rows.ids where table.counts[Int(id)] == 0 && !table.isFact(id) {
            pauses.row()
            if table.pendingFacts.find(table.rows.row(id)) == nil { table.remove(id) }
        }
    }

    /// Applies count changes and pending fact changes to a counted table.
    private func applyCounts(_ table: TableState, _ changes: CountChanges) {
        for id in changes.store.ids {
            pauses.row()
            let row = changes.store.row(id)
            var fact: Bool?
            if let pending = table.pendingFacts.find(row) { fact = table.pendingFactState[Int(pending)] }
            update(table, row, countChange: changes.counts[Int(id)], fact: fact)
        }
        for id in table.pendingFacts.ids {
            pauses.row()
            let row = table.pendingFacts.row(id)
            if changes.store.find(row) != nil { continue }
            update(table, row, countChange: 0, fact: table.pendingFactState[Int(id)])
        }
    }

    private func update(_ table: TableState, _ row: [UInt32], countChange: Int32, fact: Bool?) {
        if let id = table.rows.find(row) {
            let count = table.counts[Int(id)] + countChange
            let isFact = fact ?? table.isFact(id)
            if count > 0 || isFact {
                table.setCount(id, count)
                table.setFlag(id, fact: isFact)
            } else {
                table.remove(id)
            }
        } else {
            let isFact = fact ?? false
            if countChange > 0 || isFact { table.add(row, count: max(countChange, 0), fact: isFact) }
        }
    }

    // MARK: - Recursive strata

    /// Maintains a recursive stratum. Every row keeps a well-founded rank (see
    /// `RankToken`). Deletions examine the rows that lost a derivation in rank
    /// order and delete only those left without a lower-ranked derivation
    /// (`RankedDeletion`); the deleted rows are then re-derived from the
    /// survivors. Insertions run forward to a fixpoint, semi-naively a set at
    /// a time (`SemiNaiveInsertion`), giving each new row a rank above its
    /// derivation's rows.
    /// A stratum whose ranks are not valid yet (just formed) uses the
    /// backward/forward algorithm (Motik et al.) for its deletions instead, and
    /// is ranked afterwards.
    private func maintainRecursive(
        _ stratum: ProgramGraph.Stratum, added: [CompiledRule], removed: [CompiledRule], addedSet: Set<ObjectIdentifier>
    ) {
        let members = Set(stratum.tables.map(ObjectIdentifier.init))
        let rules = stratum.tables.flatMap { graph.rulesByHead[ObjectIdentifier($0)] ?? [] }
        let kept = rules.filter { !addedSet.contains(ObjectIdentifier($0)) }
        let ranked = ranksValid(stratum.tables, members: members)
        let wasEmpty = stratum.tables.allSatisfy { $0.rows.isEmpty }
        var newFacts: [(TableState, [UInt32])] = []
        var candidates: [(TableState, [UInt32])] = []

        // Fact changes: a removed fact becomes a deletion candidate; an added one is inserted.
        for table in stratum.tables {
            table.countsValid = false
            for pending in table.pendingFacts.ids {
                let row = table.pendingFacts.row(pending)
                let wanted = table.pendingFactState[Int(pending)]
                if let id = table.rows.find(row) {
                    guard table.isFact(id) != wanted else { continue }
                    table.setFlag(id, fact: wanted)
                    if !wanted { candidates.append((table, row)) }
                } else if wanted {
                    newFacts.append((table, row))
                }
            }
        }

        // 1. Rows that lost a derivation, read from the old state.
        for rule in removed {
            for row in collect(rule, seed: CompiledRule.fullPlan, view: .old) { candidates.append((rule.head, row)) }
        }
        for rule in kept {
            for (position, literal) in rule.literals.enumerated() {
                guard let body = literal.table, !members.contains(ObjectIdentifier(body)), body.hasDelta else { continue }
                let views = rule.oldViews
                seedDelta(rule, at: position, views: views, insertions: false, deletions: true) { row, _ in
                    candidates.append((rule.head, row))
                }
            }
        }

        var insertion = SemiNaiveInsertion(engine: self, tables: stratum.tables)

        // 2. Delete the candidates (and their consequences) that have no other proof.
        if !candidates.isEmpty && ranked {
            var deletion = RankedDeletion(engine: self, members: members)
            let unsupported = deletion.unsupportedRows(candidates)
            for (table, row) in unsupported {
                if let id = table.rows.find(row) { table.remove(id) }
            }
            for (table, row) in unsupported {
                if let rank = rederivationRank(table, row, members: members) {
                    insertion.insert(table, row, fact: false, rank: rank)
                }
            }
        } else if !candidates.isEmpty {
            for table in stratum.tables { table.proof = ProofSets(arity: table.arity, pausing: pauses) }
            var search = ProofSearch(engine: self, members: members)
            search.deleteUnprovable(candidates)
            for table in stratum.tables {
                guard let proof = table.proof else { continue }
                for id in proof.deleted.ids {
                    let row = proof.deleted.row(id)
                    if proof.proved.find(row) == nil, let stored = table.rows.find(row) { table.remove(stored) }
                }
                table.proof = nil
            }
        }

        // 3. Insert: new facts, new rules, new support from lower strata; then propagate.
        for (table, row) in newFacts { insertion.insert(table, row, fact: true, rank: 0) }
        for rule in added {
            for (row, rank) in collectRanked(rule, members: members) { insertion.insert(rule.head, row, fact: false, rank: rank) }
        }
        for rule in kept {
            for (position, literal) in rule.literals.enumerated() {
                guard let body = literal.table, !members.contains(ObjectIdentifier(body)), body.hasDelta else { continue }
                let views = rule.currentViews
                var heads: [([UInt32], Int32)] = []
                seedDelta(rule, at: position, views: views, insertions: true, deletions: false) { row, _ in
                    heads.append((row, matchedRank(rule, members: members) + 1))
                }
                for (row, rank) in heads { insertion.insert(rule.head, row, fact: false, rank: rank) }
            }
        }
        insertion.run()

        if (ranked || wasEmpty) && !insertion.needsRerank {
            let token = ranked ? stratum.tables[0].rankToken! : RankToken(members: members)
            for table in stratum.tables { table.rankToken = token }
        } else {
            rankStratum(stratum.tables, members: members)
        }
    }

    /// Every head a rule derives from the current state, with the rank it earns.
    private func collectRanked(_ rule: CompiledRule, members: Set<ObjectIdentifier>) -> [([UInt32], Int32)] {
        var heads: [([UInt32], Int32)] = []
        executor.run(rule, seed: CompiledRule.fullPlan, views: rule.currentViews, seedBind: { _ in true }) { head in
            heads.append((head, matchedRank(rule, members: members) + 1))
            return true
        }
        return heads
    }

    // MARK: - Evaluation helpers

    /// Runs a rule with every literal reading `view`.
    func run(_ rule: CompiledRule, seed: Int, view: View, emit: ([UInt32]) -> Void) {
        let views = rule.views(view)
        executor.run(rule, seed: seed, views: views, seedBind: { _ in true }) { row in
            emit(row)
            return true
        }
    }

    func collect(_ rule: CompiledRule, seed: Int, view: View) -> [[UInt32]] {
        var heads: [[UInt32]] = []
        run(rule, seed: seed, view: view) { heads.append($0) }
        return heads
    }

    /// Evaluates `rule` seeded by the delta of the table of literal `position`,
    /// emitting each derived head row with the sign of the change.
    ///
    /// A positive literal is seeded by each added (+1) or removed (-1) row. A
    /// negated literal is seeded by each distinct binding of its variables whose
    /// "no match" truth changed: +1 when it became true, -1 when it became false.
    /// `insertions`/`deletions` select which signs to produce.
    private func seedDelta(
        _ rule: CompiledRule, at position: Int, views: [View], insertions: Bool, deletions: Bool,
        emit: ([UInt32], Int32) -> Void
    ) {
        guard let table = rule.literals[position].table else { return }
        let removedRows = table.removedRows
        switch rule.literals[position] {
        case .positive(_, let patterns):
            if insertions {
                let rows = table.rows
                executor.run(rule, seed: position, views: views, seeds: table.addedIDs, seedBind: { bindings, id in
                    Executor.bind(patterns, store: rows, row: id, into: &bindings)
                }) { head in
                    emit(head, 1)
                    return true
                }
            }
            if deletions {
                executor.run(rule, seed: position, views: views, seeds: removedRows.ids, seedBind: { bindings, id in
                    Executor.bind(patterns, store: removedRows, row: id, into: &bindings)
                }) { head in
                    emit(head, -1)
                    return true
                }
            }
        case .negative(_, let patterns):
            let (columns, _) = Planner.lookupKey(patterns, Set(rule.literals[position].variables))
            var seen = Set<[UInt32]>()
            let changed = table.addedIDs.map { (table.rows, $0) } + removedRows.ids.map { (removedRows, $0) }
            for (store, id) in changed {
                var bindings = [UInt32](repeating: Executor.unbound, count: rule.slotCount)
                guard Executor.bind(patterns, store: store, row: id, into: &bindings) else { continue }
                let key = columns.map { store.cell(id, $0) }
                guard seen.insert(key).inserted else { continue }
                let before = table.exists(.old, columns: columns, key: key)
                let after = table.exists(.current, columns: columns, key: key)
                if before == after { continue }
                // "No match" became true (a match went away) or false.
                let sign: Int32 = after ? -1 : 1
                if sign > 0 ? !insertions : !deletions { continue }
                let seedBindings = bindings
                executor.run(rule, seed: position, views: views, seedBind: { bindings in
                    bindings = seedBindings
                    return true
                }) { head in
                    emit(head, sign)
                    return true
                }
            }
        default:
            return
        }
    }
}

/// Signed derivation-count changes per row, accumulated before they are applied.
final class CountChanges {
    let store: RowStore
    var counts: [Int32] = []

    init(arity: Int, pausing pauses: LongWorkPauses) { store = RowStore(arity: arity, pausing: pauses) }

    func add(_ row: [UInt32], _ change: Int32) {
        let (id, _) = store.insert(row)
        while counts.count <= Int(id) { counts.append(0) }
        counts[Int(id)] += change
    }
}

extension Executor {
    /// Binds a table literal's variables from a row given as values.
    static func bind(_ patterns: [SlotPattern], row: [UInt32], into bindings: inout [UInt32]) -> Bool {
        for (column, pattern) in patterns.enumerated() where !bind(pattern, to: row[column], into: &bindings) {
            return false
        }
        return true
    }
}
