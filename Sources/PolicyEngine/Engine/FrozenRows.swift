/// A table's rows as they were at one moment, to be read later a piece at a
/// time: a bus node streams a large snapshot over many turns of its loop
/// while transactions go on changing the table.
///
/// It shares the store's cells until the table next changes; that change
/// copies them once (a flat array of ids, about 4 bytes a column a row).
/// Values are read through the engine's pool, which never forgets a value
/// that a committed row holds (`ValuePool.truncate` forgets only a refused
/// transaction's).
public struct FrozenRows {
    let cells: [UInt32]
    let alive: [Bool]
    let arity: Int
    let pool: ValuePool
    /// How many rows it holds.
    public let count: Int
    /// One past the largest row id: read ids `0..<idLimit`.
    public var idLimit: Int { alive.count }

    /// Appends the rows whose ids are in `ids` (the ids of no row skipped).
    public func append(ids: Range<Int>, to rows: inout [[Value]]) {
        for id in ids where alive[id] {
            let base = id * arity
            rows.append((base..<base + arity).map { pool[cells[$0]] })
        }
    }
}

extension Engine {
    /// The table's rows as they are now, read later with `FrozenRows.append`;
    /// none for an unknown table.
    public func frozenRows(of table: TableID) -> FrozenRows {
        guard let rows = tableStates[table]?.rows else { return FrozenRows(cells: [], alive: [], arity: 0, pool: pool, count: 0) }
        return FrozenRows(cells: rows.cells, alive: rows.alive, arity: rows.arity, pool: pool, count: rows.count)
    }
}
