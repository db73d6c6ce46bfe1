/// What a change would do, without doing it.
extension Engine {
    /// The net delta each of `tables` would get from `transaction`, with the
    /// engine left exactly as it was: no trigger fires, no row, rule or
    /// table changes, and the value pool forgets the values the change named.
    ///
    /// The transaction is applied as `apply(_:budget:)` would (validated,
    /// committed, maintained within `budget`), its deltas are read, and then
    /// it is rolled back as a failed commit hook rolls back: the forward work
    /// is bounded by `budget`; the roll-back derives again the strata the
    /// change touched.
    /// - Returns: one delta per table of `tables` (duplicates once), in that
    ///   order, rows sorted; empty for a table the change leaves alone.
    /// - Throws: what `apply(_:budget:)` throws; the engine is then unchanged too.
    public func simulate(_ transaction: Transaction, tables: [TableID], budget: TransactionBudget = .unlimited) throws(PolicyError)
        -> [TableDelta]
    {
        var seen: Set<TableID> = []
        let wanted = tables.filter { seen.insert($0).inserted }
        var deltas: [TableDelta] = []
        let lowered = try lower(transaction)
        do {
            try applyLowered(lowered, budget: budget) { () throws(PolicyError) in
                deltas = wanted.map { table in
                    tableStates[table].map { delta(of: $0).sorted() } ?? TableDelta(table: table, added: [], removed: [])
                }
                throw PolicyError(.simulated, "simulated; rolled back")
            }
        } catch where error.code == .simulated {
            return deltas
        }
        preconditionFailure("simulate's commit hook always throws, so nothing commits")
    }
}

extension PolicyError.Code {
    /// Thrown by `simulate`'s commit hook to roll the change back; never seen by a caller.
    static let simulated = PolicyError.Code(rawValue: "simulated")
}
