/// Questions about stored facts, as distinct from derived rows. A row can be
/// both (a fact that a rule also derives); what was inserted from outside is
/// what a caller must keep or undo, so durability decides by these.
extension Engine {
    /// Whether `row` is stored as a fact of `table` (inserted from outside or
    /// written in policy text), whether or not a rule also derives it.
    /// Cost: one lookup. (A value never seen before is interned by the lookup.)
    public func containsFact(_ row: [Value], in table: TableID) -> Bool {
        guard let state = tableStates[table], state.arity == row.count,
            let ids = pool.ids(of: row), let id = state.rows.find(ids)
        else { return false }
        return state.isFact(id)
    }

    /// Calls `body` with each fact of the table (not the rows only derived),
    /// in no particular order.
    public func forEachFact(of table: TableID, _ body: ([Value]) throws -> Void) rethrows {
        guard let state = tableStates[table] else { return }
        for id in state.rows.ids where state.isFact(id) { try body(values(state.rows.row(id))) }
    }
}
