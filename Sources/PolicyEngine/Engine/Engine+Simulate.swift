/// What a change would do, without doing it.
extension Engine {
    /// The net delta each of `tables` would get from `transaction`, with the
    /// engine left as it was: no trigger fires, and every row, fact, rule and
    /// table is as before, and the value pool forgets the values the change
    /// named (so that simulations cannot grow it). Only a recursive row may be
    /// left with another well-founded rank, which no query sees.
    ///
    /// The transaction is applied as `apply(_:budget:)` would (validated,
    /// committed, maintained within `budget`) with its triggers held, its
    /// deltas are read, and then its inverse is applied the same way: the
    /// rules it added removed, those it removed added back, and every row
    /// whose fact state it changed changed back. Both are incremental, so a
    /// simulation costs about twice the change (and a pass over the value
    /// pool when the change named new values), not a new evaluation of the
    /// strata it touched (which a roll-back would cost).
    /// - Returns: one delta per table of `tables` (duplicates once), in that
    ///   order, rows sorted; empty for a table the change leaves alone.
    /// - Throws: what `apply(_:budget:)` throws; the engine is then unchanged too.
    public func simulate(_ transaction: Transaction, tables: [TableID], budget: TransactionBudget = .unlimited) throws(PolicyError)
        -> [TableDelta]
    {
        let change = try lower(transaction)
        let interned = pool.count
        let tablesBefore = Set(tableStates.keys)
        let frontEndBefore = frontEnd
        let removedRules = change.removedRules.compactMap { rulesByKey[$0]?.rule }
        let factsBefore = factStates(touchedBy: change)

        let applied: [TableDelta]
        do {
            applied = try applyLowered(change, budget: budget, firingTriggers: false)
        } catch {
            // `applyLowered` forgets its own values; these are the fact lookups'.
            pool.truncate(to: interned)
            throw error
        }

        var inverse = LoweredTransaction()
        inverse.addedRules = removedRules
        inverse.removedRules = change.addedRules.map { RuleKey(policy: $0.policy, text: $0.text) }
        inverse.frontEnd = frontEndBefore
        for (table, row, wasFact) in factsBefore where containsFact(row, in: table) != wasFact {
            inverse.rowOperations.append(wasFact ? .insert(table, row) : .delete(table, row))
        }
        do {
            try applyLowered(inverse, returningDeltas: false, firingTriggers: false)
        } catch {
            // The inverse rebuilds a program and facts the engine held a moment ago.
            preconditionFailure("simulate could not undo its change: \(error)")
        }
        let created = Set(tableStates.keys).subtracting(tablesBefore)
        if !created.isEmpty {
            for table in created { tableStates[table] = nil }
            graphIsStale = true
            _ = try? applyLowered(LoweredTransaction(), firingTriggers: false)
        }
        // No row or rule holds them now. A pass over the pool, only when the
        // change named new values.
        pool.truncate(to: interned)

        var seen: Set<TableID> = []
        return tables.filter { seen.insert($0).inserted }.map { table in
            applied.first { $0.table == table }?.sorted() ?? TableDelta(table: table, added: [], removed: [])
        }
    }

    /// Whether each row the change inserts, deletes or replaces is a fact
    /// now: once per row, the facts of a replaced table included.
    private func factStates(touchedBy change: LoweredTransaction) -> [(table: TableID, row: [Value], wasFact: Bool)] {
        var seen: Set<TableRow> = []
        var states: [(table: TableID, row: [Value], wasFact: Bool)] = []
        func note(_ table: TableID, _ row: [Value]) {
            if seen.insert(TableRow(table: table, row: row)).inserted { states.append((table, row, containsFact(row, in: table))) }
        }
        for operation in change.rowOperations {
            switch operation {
            case .insert(let table, let row), .delete(let table, let row): note(table, row)
            case .replace(let table, let rows):
                forEachFact(of: table) { note(table, $0) }
                for row in rows { note(table, row) }
            case .insertInterned(let table, let rows, let cells):
                LoweredTransaction.forEachRow(rows: rows, cells: cells) { note(table, values($0)) }
            }
        }
        return states
    }

    private struct TableRow: Hashable {
        var table: TableID
        var row: [Value]
    }
}
