/// A hash index over some columns of a `RowStore`'s rows.
///
/// Open addressing with linear probing; a bucket holds the id (+ 1) of the first
/// row with that key, and rows sharing a key are chained through `next`/`prev`
/// (one pair of `UInt32` per row). A unique index (the store's primary index over
/// all columns) has no chains. The index does not own the rows: every call passes
/// the store's flat `cells`.
struct HashIndex {
    static let none = UInt32.max

    let columns: [Int]
    let unique: Bool
    private(set) var buckets: [UInt32] = Array(repeating: 0, count: 16)
    private var used = 0
    private var next: [UInt32] = []
    private var prev: [UInt32] = []

    init(columns: [Int], unique: Bool) {
        self.columns = columns
        self.unique = unique
    }

    @inline(__always)
    static func mix(_ hash: UInt64, _ value: UInt32) -> UInt64 {
        var h = (hash ^ UInt64(value)) &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 29
        return h
    }

    @inline(__always)
    private func hash(row: UInt32, cells: [UInt32], arity: Int) -> Int {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        let base = Int(row) * arity
        for column in columns { h = HashIndex.mix(h, cells[base + column]) }
        return Int(truncatingIfNeeded: h)
    }

    @inline(__always)
    static func hash(key: [UInt32]) -> Int {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for value in key { h = mix(h, value) }
        return Int(truncatingIfNeeded: h)
    }

    @inline(__always)
    private func matches(row: UInt32, key: [UInt32], cells: [UInt32], arity: Int) -> Bool {
        let base = Int(row) * arity
        for (position, column) in columns.enumerated() where cells[base + column] != key[position] {
            return false
        }
        return true
    }

    @inline(__always)
    private func sameKey(_ a: UInt32, _ b: UInt32, cells: [UInt32], arity: Int) -> Bool {
        let baseA = Int(a) * arity
        let baseB = Int(b) * arity
        for column in columns where cells[baseA + column] != cells[baseB + column] { return false }
        return true
    }

    /// The first row whose key columns equal `key` (in `columns` order).
    func first(key: [UInt32], cells: [UInt32], arity: Int) -> UInt32? {
        key.withUnsafeBufferPointer { first(key: $0.baseAddress!, cells: cells, arity: arity) }
    }

    /// `first(key:cells:arity:)` with the key's `columns.count` values at `key`.
    @inline(__always)
    func first(key: UnsafePointer<UInt32>, cells: [UInt32], arity: Int) -> UInt32? {
        let width = columns.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for position in 0..<width { h = HashIndex.mix(h, key[position]) }
        let mask = buckets.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        return columns.withUnsafeBufferPointer { columns in
            while true {
                let entry = buckets[slot]
                if entry == 0 { return nil }
                let base = Int(entry - 1) * arity
                var match = true
                for position in 0..<width where cells[base + columns[position]] != key[position] {
                    match = false
                    break
                }
                if match { return entry - 1 }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Loads the home bucket of keys `first..<first + count` of those laid
    /// out flat in `keys` (`columns.count` values each), and the first cell
    /// of the row it holds.
    /// The loads do not depend on one another, so the processor overlaps their
    /// cache misses; the probes that follow then find them in cache. A
    /// recursive round's probes are nearly all misses (the tables are tens of
    /// MiB), and one at a time they cost a third of a full evaluation.
    /// Returns a value only so that the loads are not optimised away.
    func touch(keys: [UInt32], from first: Int, count: Int, cells: [UInt32], arity: Int) -> UInt32 {
        if cells.isEmpty { return 0 }
        let width = columns.count
        let mask = buckets.count - 1
        var sink: UInt32 = 0
        for index in first..<first + count {
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15
            for position in 0..<width { h = HashIndex.mix(h, keys[index * width + position]) }
            let entry = buckets[Int(truncatingIfNeeded: h) & mask]
            // Branch-free: an empty bucket reads row 0, which is harmless.
            sink &+= cells[Int(max(entry, 1) - 1) * arity]
        }
        return sink
    }

    /// For a unique index: the row whose key equals `key`, or else the empty
    /// bucket where a row with that key goes (for `fill`), from one probe.
    @inline(__always)
    func probe(key: [UInt32], cells: [UInt32], arity: Int) -> (row: UInt32?, slot: Int) {
        let mask = buckets.count - 1
        var slot = HashIndex.hash(key: key) & mask
        while true {
            let entry = buckets[slot]
            if entry == 0 { return (nil, slot) }
            if matches(row: entry - 1, key: key, cells: cells, arity: arity) { return (entry - 1, slot) }
            slot = (slot + 1) & mask
        }
    }

    /// Puts `row` (of a unique index, cells stored) into the empty bucket
    /// `probe` returned. `alive` says which rows the index holds (all the
    /// store's), for growing.
    mutating func fill(_ slot: Int, with row: UInt32, cells: [UInt32], arity: Int, alive: [Bool], pausing pauses: LongWorkPauses?) {
        buckets[slot] = row + 1
        used += 1
        if used * 10 > buckets.count * 7 { growUnique(cells: cells, arity: arity, alive: alive, pausing: pauses) }
    }

    /// `grow` for a unique index holding every row that `alive` marks: it
    /// rehashes the rows in id order, reading `cells` in order, where walking
    /// the old buckets read them at random (8 % of a W3 evaluation).
    /// A growth moves every row (a quarter of a second at a million rows in
    /// a debug build): it pauses for the engine's owner as it goes. A pause
    /// never touches the engine, so the half-built buckets are never read.
    private mutating func growUnique(cells: [UInt32], arity: Int, alive: [Bool], pausing pauses: LongWorkPauses?) {
        buckets = Array(repeating: 0, count: buckets.count * 2)
        let mask = buckets.count - 1
        for id in 0..<alive.count where alive[id] {
            pauses?.row()
            var slot = hash(row: UInt32(id), cells: cells, arity: arity) & mask
            while buckets[slot] != 0 { slot = (slot + 1) & mask }
            buckets[slot] = UInt32(id) + 1
        }
    }

    /// The row after `row` with the same key.
    @inline(__always)
    func next(after row: UInt32) -> UInt32? {
        if unique { return nil }
        let following = next[Int(row)]
        return following == HashIndex.none ? nil : following
    }

    private func slot(of row: UInt32, cells: [UInt32], arity: Int) -> Int? {
        let mask = buckets.count - 1
        var slot = hash(row: row, cells: cells, arity: arity) & mask
        while true {
            let entry = buckets[slot]
            if entry == 0 { return nil }
            if sameKey(entry - 1, row, cells: cells, arity: arity) { return slot }
            slot = (slot + 1) & mask
        }
    }

    /// Adds `row`, whose cells are already stored. A unique index must not
    /// already hold a row with the same key.
    mutating func insert(_ row: UInt32, cells: [UInt32], arity: Int, pausing pauses: LongWorkPauses? = nil) {
        if !unique {
            while next.count <= Int(row) {
                next.append(HashIndex.none)
                prev.append(HashIndex.none)
            }
        }
        let mask = buckets.count - 1
        var slot = hash(row: row, cells: cells, arity: arity) & mask
        while true {
            let entry = buckets[slot]
            if entry == 0 { break }
            if !unique && sameKey(entry - 1, row, cells: cells, arity: arity) {
                let head = entry - 1
                next[Int(row)] = head
                prev[Int(row)] = HashIndex.none
                prev[Int(head)] = row
                buckets[slot] = row + 1
                return
            }
            slot = (slot + 1) & mask
        }
        if !unique {
            next[Int(row)] = HashIndex.none
            prev[Int(row)] = HashIndex.none
        }
        buckets[slot] = row + 1
        used += 1
        if used * 10 > buckets.count * 7 { grow(cells: cells, arity: arity, pausing: pauses) }
    }

    /// Removes `row`, whose cells are still stored.
    mutating func remove(_ row: UInt32, cells: [UInt32], arity: Int) {
        if !unique {
            let before = prev[Int(row)]
            let after = next[Int(row)]
            if after != HashIndex.none { prev[Int(after)] = before }
            if before != HashIndex.none {
                next[Int(before)] = after
                return
            }
            if after != HashIndex.none {
                // `row` heads its chain: the bucket moves to the next row.
                guard let slot = slot(of: row, cells: cells, arity: arity) else { return }
                buckets[slot] = after + 1
                return
            }
        }
        guard let slot = slot(of: row, cells: cells, arity: arity) else { return }
        deleteBucket(at: slot, cells: cells, arity: arity)
    }

    /// Backward-shift deletion, so that probing never needs tombstones.
    private mutating func deleteBucket(at start: Int, cells: [UInt32], arity: Int) {
        let mask = buckets.count - 1
        var hole = start
        var probe = start
        while true {
            probe = (probe + 1) & mask
            let entry = buckets[probe]
            if entry == 0 { break }
            let home = hash(row: entry - 1, cells: cells, arity: arity) & mask
            // Move the entry into the hole unless its home lies cyclically in (hole, probe].
            let inRange = hole <= probe ? (home > hole && home <= probe) : (home > hole || home <= probe)
            if !inRange {
                buckets[hole] = entry
                hole = probe
            }
        }
        buckets[hole] = 0
        used -= 1
    }

    /// Doubles the buckets, pausing as it goes (see `growUnique`).
    private mutating func grow(cells: [UInt32], arity: Int, pausing pauses: LongWorkPauses?) {
        let old = buckets
        buckets = Array(repeating: 0, count: old.count * 2)
        let mask = buckets.count - 1
        for entry in old where entry != 0 {
            pauses?.row()
            var slot = hash(row: entry - 1, cells: cells, arity: arity) & mask
            while buckets[slot] != 0 { slot = (slot + 1) & mask }
            buckets[slot] = entry
        }
    }

    /// Every row the index holds, for tests (`RowStore.contents()`).
    func heldRows() -> [UInt32] {
        var rows: [UInt32] = []
        for entry in buckets where entry != 0 {
            var row: UInt32? = entry - 1
            while let current = row {
                rows.append(current)
                row = next(after: current)
            }
        }
        return rows
    }

    /// Bytes held, for memory reports.
    var byteCount: Int { (buckets.capacity + next.capacity + prev.capacity) * 4 }
}
