/// A table's rows as they were at one moment, to be read later a piece at a
/// time: a bus node streams a large snapshot over many turns of its loop
/// while transactions go on changing the table.
///
/// It shares the store's cells until the table next changes; that change
/// copies them once (a flat array of ids, about 4 bytes a column a row).
/// Values are read through the engine's pool, whose sweeps wait while the
/// frozen rows are alive (`pin`): a row deleted meanwhile keeps its values.
public struct FrozenRows {
    let cells: [UInt32]
    let alive: [Bool]
    let arity: Int
    let pool: ValuePool
    let pin: ValuePool.Pin
    /// How many rows it holds.
    public let count: Int
    /// Which table, at which change, they are.
    public let version: TableVersion
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
        guard let state = tableStates[table] else { return FrozenRows(cells: [], alive: [], arity: 0, pool: pool, pin: ValuePool.Pin(pool), count: 0, version: version(of: table)) }
        let rows = state.rows
        return FrozenRows(
            cells: rows.cells, alive: rows.alive, arity: rows.arity, pool: pool, pin: ValuePool.Pin(pool), count: rows.count,
            version: version(of: table))
    }

    /// Which table, at which change, `table` is now.
    public func version(of table: TableID) -> TableVersion {
        TableVersion(state: tableStates[table], version: tableStates[table]?.version ?? 0)
    }

    /// Whether `rows(of:)` has the table sorted at its current version (costs no sort).
    public func hasSortedRows(of table: TableID) -> Bool {
        guard let state = tableStates[table], let sorted = sortedRows else { return false }
        return sorted.table === state && sorted.version == state.version
    }

    /// Keeps `rows`, the table's rows at `version` sorted by the caller (a
    /// bus node sorts a step at a time), as `rows(of:)`'s sorted copy, if the
    /// table has not changed since.
    public func keepSorted(_ rows: [[Value]], at version: TableVersion) {
        guard let state = version.state, tableStates[state.id] === state, state.version == version.version else { return }
        sortedRows = (state, version.version, rows)
    }

    /// The table a query reads, or nil when the query is wrong (`query` then says why).
    public func queriedTable(_ text: String, defaultPolicy: String? = nil) -> TableID? {
        try? PolicyParser.parseQuery(text, defaultPolicy: defaultPolicy).table
    }
}

/// A table at one change: equal only for the same table (not one dropped
/// and made again) at the same change.
public struct TableVersion: Hashable {
    let state: TableState?
    let version: Int

    public static func == (lhs: TableVersion, rhs: TableVersion) -> Bool { lhs.state === rhs.state && lhs.version == rhs.version }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(state.map(ObjectIdentifier.init))
        hasher.combine(version)
    }
}
