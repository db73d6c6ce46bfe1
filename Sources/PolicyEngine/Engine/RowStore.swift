/// A set of rows of interned values, stored flat: row `id` occupies
/// `cells[id * arity ..< (id + 1) * arity]`. No heap object per row.
///
/// Freed ids are reused. Secondary indexes over column subsets are built on
/// first use and then kept up to date.
///
/// Its storage properties are marked `@exclusivity(unchecked)`: Swift's
/// run-time exclusivity checks on them cost about a fifth of a bulk load. It
/// is safe because the engine runs on one thread (`Engine` is not
/// `Sendable`), and every access is a plain read, write or append through
/// this class, never an inout access held across a call that could touch the
/// same property again.
final class RowStore {
    let arity: Int
    @exclusivity(unchecked) private(set) var cells: [UInt32] = []
    @exclusivity(unchecked) private(set) var alive: [Bool] = []
    @exclusivity(unchecked) private(set) var count = 0
    @exclusivity(unchecked) private var freeIDs: [UInt32] = []
    @exclusivity(unchecked) private var primary: HashIndex
    @exclusivity(unchecked) private var indexes: [HashIndex] = []
    /// Stores this small are scanned instead of indexed (transaction scratch).
    private static let scanLimit = 8
    /// The engine's pauses, taken while an index grows or is built: steps
    /// that cost the whole store's size, inside a single insert or lookup.
    let pauses: LongWorkPauses?

    init(arity: Int, pausing pauses: LongWorkPauses? = nil) {
        self.arity = arity
        self.pauses = pauses
        primary = HashIndex(columns: Array(0..<arity), unique: true)
    }

    var isEmpty: Bool { count == 0 }
    /// One past the highest id ever used; iterate `0..<idLimit` and test `alive`.
    var idLimit: Int { alive.count }

    @inline(__always)
    func cell(_ row: UInt32, _ column: Int) -> UInt32 { cells[Int(row) * arity + column] }

    func row(_ id: UInt32) -> [UInt32] {
        let base = Int(id) * arity
        return Array(cells[base..<base + arity])
    }

    /// The id of the row equal to `values`, if stored.
    func find(_ values: [UInt32]) -> UInt32? {
        if count == 0 { return nil }
        return primary.first(key: values, cells: cells, arity: arity)
    }

    /// Stores `values` unless present. Returns its id and whether it was new.
    /// One probe of the primary index finds the row or the bucket it goes in.
    @discardableResult
    func insert(_ values: [UInt32]) -> (id: UInt32, inserted: Bool) {
        let (existing, slot) = primary.probe(key: values, cells: cells, arity: arity)
        if let existing { return (existing, false) }
        let id: UInt32
        if let reused = freeIDs.popLast() {
            id = reused
            let base = Int(id) * arity
            for column in 0..<arity { cells[base + column] = values[column] }
            alive[Int(id)] = true
        } else {
            id = UInt32(alive.count)
            cells.append(contentsOf: values)
            alive.append(true)
        }
        primary.fill(slot, with: id, cells: cells, arity: arity, alive: alive, pausing: pauses)
        for position in indexes.indices { indexes[position].insert(id, cells: cells, arity: arity, pausing: pauses) }
        count += 1
        return (id, true)
    }

    /// Brings into cache what inserting rows `first..<first + count` of the
    /// rows laid out flat in `rows` will probe (see `HashIndex.touch`), for a
    /// batch about to be inserted.
    func touch(rows: [UInt32], from first: Int, count: Int) {
        touched &+= primary.touch(keys: rows, from: first, count: count, cells: cells, arity: arity)
    }

    /// Keeps `touch`'s loads alive.
    private var touched: UInt32 = 0

    /// Removes the row with id `id`. Its cells stay readable until the id is
    /// reused; with `reuse: false` the id is held back until `releaseHeldIDs()`.
    func remove(_ id: UInt32, reuse: Bool = true) {
        guard alive[Int(id)] else { return }
        primary.remove(id, cells: cells, arity: arity)
        for position in indexes.indices { indexes[position].remove(id, cells: cells, arity: arity) }
        alive[Int(id)] = false
        if reuse { freeIDs.append(id) } else { heldIDs.append(id) }
        count -= 1
    }

    private var heldIDs: [UInt32] = []

    /// Makes the ids held back by `remove(_:reuse:)` reusable.
    func releaseHeldIDs() {
        if heldIDs.isEmpty { return }
        freeIDs.append(contentsOf: heldIDs)
        heldIDs = []
    }

    /// Undoes the `insert` that stored row `id` at a freed id, the newest
    /// change to the store not undone yet: the id goes back to the free ids.
    func undoInsert(_ id: UInt32) {
        primary.remove(id, cells: cells, arity: arity)
        for position in indexes.indices { indexes[position].remove(id, cells: cells, arity: arity) }
        alive[Int(id)] = false
        count -= 1
        freeIDs.append(id)
    }

    /// Removes every row at an id of `limit` or above and the ids with them:
    /// undoes the inserts that took new ids (no free id is among them).
    func truncate(to limit: Int) {
        guard limit < alive.count else { return }
        for id in limit..<alive.count where alive[id] {
            pauses?.row()
            primary.remove(UInt32(id), cells: cells, arity: arity)
            for position in indexes.indices { indexes[position].remove(UInt32(id), cells: cells, arity: arity) }
            count -= 1
        }
        cells.removeSubrange((limit * arity)...)
        alive.removeSubrange(limit...)
    }

    /// Undoes the `remove` of row `id`, the newest change to the store not
    /// undone yet: stores `values` at `id` again, in every index. An id held
    /// back (`held`) is taken out of the held ids by `forgetHeldIDs()`.
    func undoRemove(_ id: UInt32, cells values: ArraySlice<UInt32>, held: Bool) {
        if !held {
            let freed = freeIDs.popLast()
            precondition(freed == id, "undoRemove: not the newest change")
        }
        let base = Int(id) * arity
        for (column, value) in values.enumerated() { cells[base + column] = value }
        alive[Int(id)] = true
        primary.insert(id, cells: cells, arity: arity, pausing: pauses)
        for position in indexes.indices { indexes[position].insert(id, cells: cells, arity: arity, pausing: pauses) }
        count += 1
    }

    /// Drops the held-back ids after a roll-back made their rows stored again or undid them.
    func forgetHeldIDs() { heldIDs = [] }

    /// Calls `body` with each stored row whose `columns` (ascending) equal `key`,
    /// until it returns false. `body` must not change the store.
    @inline(__always)
    func forEach(columns: [Int], key: [UInt32], _ body: (UInt32) -> Bool) {
        if columns.count == arity {
            if let id = find(columns == primary.columns ? key : fullKey(columns: columns, key: key)) { _ = body(id) }
            return
        }
        if columns.isEmpty || count <= RowStore.scanLimit {
            for id in 0..<alive.count where alive[id] {
                let base = id * arity
                var match = true
                for (position, column) in columns.enumerated() where cells[base + column] != key[position] {
                    match = false
                    break
                }
                if match && !body(UInt32(id)) { return }
            }
            return
        }
        let index = indexPosition(for: columns)
        var cursor = indexes[index].first(key: key, cells: cells, arity: arity)
        while let id = cursor {
            // Read the successor first: `body` may not mutate, but be safe if it reads.
            cursor = indexes[index].next(after: id)
            if !body(id) { return }
        }
    }

    /// The id of the row whose every column equals `key` (`arity` values), if stored.
    @inline(__always)
    func find(key: UnsafePointer<UInt32>) -> UInt32? {
        count == 0 ? nil : primary.first(key: key, cells: cells, arity: arity)
    }

    /// Whether a lookup on `keyCount` columns scans the rows instead of using an index.
    @inline(__always)
    func scans(keyCount: Int) -> Bool { keyCount == 0 || count <= RowStore.scanLimit }

    /// Whether row `id` is stored and its `columns` equal `key`: the test of a scan.
    @inline(__always)
    func matches(_ id: Int, columns: UnsafePointer<Int>, key: UnsafePointer<UInt32>, count keyCount: Int) -> Bool {
        guard alive[id] else { return false }
        let base = id * arity
        for position in 0..<keyCount where cells[base + columns[position]] != key[position] { return false }
        return true
    }

    /// The position of the secondary index on `columns` (ascending), built on
    /// first use; `hint` caches it for the caller: an index never moves or
    /// goes (`compact` rebuilds each in its place).
    @inline(__always)
    func index(columns: UnsafePointer<Int>, count keyCount: Int, hint: inout Int) -> Int {
        if hint >= 0 { return hint }
        hint = indexPosition(for: Array(UnsafeBufferPointer(start: columns, count: keyCount)))
        return hint
    }

    /// The first row of secondary index `index` whose key equals `key`.
    @inline(__always)
    func first(index: Int, key: UnsafePointer<UInt32>) -> UInt32? { indexes[index].first(key: key, cells: cells, arity: arity) }

    /// The row after `id` in secondary index `index` with the same key.
    @inline(__always)
    func next(index: Int, after id: UInt32) -> UInt32? { indexes[index].next(after: id) }

    private func fullKey(columns: [Int], key: [UInt32]) -> [UInt32] {
        var full = [UInt32](repeating: 0, count: arity)
        for (position, column) in columns.enumerated() { full[column] = key[position] }
        return full
    }

    private func indexPosition(for columns: [Int]) -> Int {
        if let position = indexes.firstIndex(where: { $0.columns == columns }) { return position }
        var index = HashIndex(columns: columns, unique: false)
        for id in 0..<alive.count where alive[id] {
            pauses?.row()
            index.insert(UInt32(id), cells: cells, arity: arity, pausing: pauses)
        }
        indexes.append(index)
        return indexes.count - 1
    }

    /// Every stored row id.
    var ids: [UInt32] { (0..<alive.count).compactMap { alive[$0] ? UInt32($0) : nil } }

    /// Whether most ids are free: deleted rows keep their cells, flags and
    /// index buckets (ids are reused, the arrays never shrink), so a table
    /// that shrank for good holds the memory of its largest size.
    var isSparse: Bool { alive.count >= 1024 && count * 4 <= alive.count && heldIDs.isEmpty }

    /// Renumbers the rows densely and rebuilds the storage at their size.
    /// Every id held outside the store becomes wrong: call it only when none
    /// is (between transactions). Each secondary index is rebuilt in its
    /// place: plans keep an index's position (`index(columns:count:hint:)`)
    /// from one transaction to the next.
    /// - Returns: the old id of each row, by new id.
    func compact() -> [UInt32] {
        let kept = ids
        var packed: [UInt32] = []
        packed.reserveCapacity(kept.count * arity)
        for id in kept {
            pauses?.row()
            packed.append(contentsOf: cells[Int(id) * arity..<(Int(id) + 1) * arity])
        }
        cells = []
        alive = []
        freeIDs = []
        count = 0
        indexes = indexes.map { HashIndex(columns: $0.columns, unique: false) }
        primary = HashIndex(columns: Array(0..<arity), unique: true)
        for position in kept.indices {
            pauses?.row()
            insert(Array(packed[position * arity..<(position + 1) * arity]))
        }
        return kept
    }

    /// What lookups and the next inserts can observe, for tests: each
    /// stored row by id, the free ids in the order they are taken, the rows
    /// each index finds for each key of a stored row, and every id each
    /// index holds (a removed row left in an index shows only there), by
    /// the index's columns.
    struct Contents: Equatable {
        var rows: [UInt32: [UInt32]] = [:]
        var freeIDs: [UInt32] = []
        var idLimit = 0
        var indexes: [[Int]: [[UInt32]: Set<UInt32>]] = [:]
        var indexed: [[Int]: [UInt32]] = [:]
    }

    func contents() -> Contents {
        var contents = Contents(freeIDs: freeIDs, idLimit: idLimit)
        for id in ids { contents.rows[id] = row(id) }
        for index in [primary] + indexes {
            contents.indexed[index.columns] = index.heldRows().sorted()
            var found: [[UInt32]: Set<UInt32>] = [:]
            for id in ids {
                let key = index.columns.map { cell(id, $0) }
                guard found[key] == nil else { continue }
                var ids: Set<UInt32> = []
                var cursor = index.first(key: key, cells: cells, arity: arity)
                while let next = cursor {
                    ids.insert(next)
                    cursor = index.next(after: next)
                }
                found[key] = ids
            }
            contents.indexes[index.columns] = found
        }
        return contents
    }

    /// Bytes held, for memory reports.
    var byteCount: Int {
        cells.capacity * 4 + alive.capacity + freeIDs.capacity * 4 + primary.byteCount
            + indexes.reduce(0) { $0 + $1.byteCount }
    }
}
