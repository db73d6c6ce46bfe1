/// What a change would do, without doing it.
extension Engine {
    /// The net delta each of `tables` would get from `transaction`, with the
    /// engine left as it was: no trigger fires, every row, count, rank, fact,
    /// rule and table is as before, and the value pool forgets the values the
    /// change named (so that simulations cannot grow it).
    ///
    /// The transaction is applied as `apply(_:budget:)` would (validated,
    /// committed, maintained within `budget`), its deltas are read where the
    /// commit hook would run, and it is rolled back by the tables' undo logs:
    /// a simulation costs the change and its undoing, not a new evaluation of
    /// the strata it touched.
    /// - Returns: one delta per table of `tables` (duplicates once), in that
    ///   order, rows sorted; empty for a table the change leaves alone.
    /// - Throws: what `apply(_:budget:)` throws; the engine is then unchanged too.
    public func simulate(_ transaction: Transaction, tables: [TableID], budget: TransactionBudget = .unlimited) throws(PolicyError)
        -> [TableDelta]
    {
        let change = try lower(transaction)
        var seen: Set<TableID> = []
        let wanted = tables.filter { seen.insert($0).inserted }
        var deltas: [TableID: TableDelta] = [:]
        do {
            try applyLowered(change, returningDeltas: false, budget: budget, firingTriggers: false) { () throws(PolicyError) in
                for table in wanted {
                    if let state = tableStates[table], state.hasDelta { deltas[table] = delta(of: state).sorted() }
                }
                // Not a failure: what makes the transaction roll back.
                throw PolicyError(Self.simulated, "simulated")
            }
        } catch where error.code == Self.simulated {}
        return wanted.map { deltas[$0] ?? TableDelta(table: $0, added: [], removed: []) }
    }

    private static let simulated = PolicyError.Code(rawValue: "simulated")
}
