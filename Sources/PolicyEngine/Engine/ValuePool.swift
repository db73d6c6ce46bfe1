/// Interns values to small integer ids, so that a stored row is a few `UInt32`s.
///
/// Equal values (by `Value ==`) get the same id, so row equality is id equality.
///
/// Each value counts the stored rows and rules that hold it (`hold`,
/// `release`; a row holding it twice counts twice). `sweep`, at the end of
/// every transaction, frees the values nobody holds any more: those of
/// deleted rows and removed rules, and those a refused, rolled-back or
/// simulated transaction or a query named. A freed value's memory goes back
/// and its id is given to the next new value. While a reader that holds ids
/// without holding the values is alive (`Pin`: a snapshot read over many
/// loop turns, a facts file read before it is loaded), sweeps wait.
///
/// Its storage properties are marked `@exclusivity(unchecked)`: Swift's
/// run-time exclusivity checks on them cost about a fifth of a bulk load. It
/// is safe because the engine runs on one thread (`Engine` is not
/// `Sendable`), and every access is a plain read, write or append through
/// this class, never an inout access held across a call that could touch the
/// same property again.
final class ValuePool {
    @exclusivity(unchecked) private(set) var values: [Value] = []
    // Open addressing over `values`: each slot holds (high 32 bits of the hash,
    // id + 1), 0 when empty; the slot's home is those hash bits. Cheaper than a
    // `[Value: UInt32]` dictionary, which would store every value twice; the
    // kept bits skip most string comparisons and make growing rehash nothing.
    @exclusivity(unchecked) private var slots: [UInt64] = Array(repeating: 0, count: 1024)
    /// How many rows and rules hold each id's value; `ValuePool.freed` for a free id.
    @exclusivity(unchecked) private var holders: [UInt32] = []
    @exclusivity(unchecked) private var freeIDs: [UInt32] = []
    /// Ids nobody held at some moment since the last sweep (new values, and
    /// values whose last holder went): the sweep's candidates. An id may be listed twice.
    @exclusivity(unchecked) private var unheld: [UInt32] = []
    /// The engine's pauses, taken while the table grows (`grow`).
    var pauses: LongWorkPauses?
    /// Live `Pin`s: sweeps wait until none is left.
    fileprivate var pins = 0
    private static let freed = UInt32.max
    /// What a freed id's value becomes (no storage of its own).
    private static let placeholder = Value.int(0)

    /// How many values are interned.
    var count: Int { values.count - freeIDs.count }
    /// One past the highest id ever given: ids are `0..<idLimit`.
    var idLimit: Int { values.count }

    @inline(__always)
    subscript(id: UInt32) -> Value { values[Int(id)] }

    /// The id of `value`, interning it if it is new.
    func intern(_ value: Value) -> UInt32 {
        let (slot, tag, found) = probe(value)
        if let found { return found }
        let id: UInt32
        if let reused = freeIDs.popLast() {
            id = reused
            values[Int(id)] = value
            holders[Int(id)] = 0
        } else {
            id = UInt32(values.count)
            values.append(value)
            holders.append(0)
        }
        unheld.append(id)
        slots[slot] = tag << 32 | UInt64(id + 1)
        if values.count * 4 > slots.count * 3 { grow() }
        return id
    }

    /// The id of `value` if it is interned, without interning it.
    func id(of value: Value) -> UInt32? { probe(value).id }

    /// The ids of a row's values, or nil if one was never interned (so no
    /// stored row can hold it).
    func ids(of row: [Value]) -> [UInt32]? {
        var ids: [UInt32] = []
        ids.reserveCapacity(row.count)
        for value in row {
            guard let id = id(of: value) else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// Finds `value`'s slot: its id if interned, else the empty slot it would take.
    @inline(__always)
    private func probe(_ value: Value) -> (slot: Int, tag: UInt64, id: UInt32?) {
        let tag = UInt64(truncatingIfNeeded: value.hashValue) >> 32
        let mask = slots.count - 1
        var slot = Int(tag) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return (slot, tag, nil) }
            if entry >> 32 == tag {
                let id = UInt32(truncatingIfNeeded: entry) - 1
                if values[Int(id)] == value { return (slot, tag, id) }
            }
            slot = (slot + 1) & mask
        }
    }

    /// A row or rule now holds the value `id`.
    @inline(__always)
    func hold(_ id: UInt32) { holders[Int(id)] &+= 1 }

    /// A row or rule no longer holds the value `id`; the next sweep frees it if nobody holds it then.
    @inline(__always)
    func release(_ id: UInt32) {
        holders[Int(id)] &-= 1
        if holders[Int(id)] == 0 { unheld.append(id) }
    }

    /// Frees the values nobody holds (see the type's comment), unless a
    /// `Pin` is alive. Costs the values that lost their last holder or were
    /// interned since the last sweep, not the pool's size.
    func sweep(pausing pauses: LongWorkPauses? = nil) {
        guard pins == 0, !unheld.isEmpty else { return }
        for id in unheld where holders[Int(id)] == 0 {
            pauses?.row()
            removeSlot(of: id)
            values[Int(id)] = Self.placeholder
            holders[Int(id)] = Self.freed
            freeIDs.append(id)
        }
        // A big sweep's list goes; a small one's keeps its capacity.
        unheld.removeAll(keepingCapacity: unheld.count <= 1024)
    }

    /// Holds the sweeps back while alive: for a reader of ids that does not
    /// hold their values.
    final class Pin {
        private let pool: ValuePool

        init(_ pool: ValuePool) {
            self.pool = pool
            pool.pins += 1
        }

        deinit { pool.pins -= 1 }
    }

    /// Empties the slot of the value with id `id` by backward-shift
    /// deletion: each later entry of the probe run whose home is at or
    /// before the hole moves into it, so that no probe chain breaks.
    private func removeSlot(of id: UInt32) {
        let mask = slots.count - 1
        var hole = Int(UInt64(truncatingIfNeeded: values[Int(id)].hashValue) >> 32) & mask
        while UInt32(truncatingIfNeeded: slots[hole]) != id + 1 { hole = (hole + 1) & mask }
        var next = (hole + 1) & mask
        while slots[next] != 0 {
            let home = Int(slots[next] >> 32) & mask
            // The hole is on the entry's probe path from its home to `next`.
            if (next - home) & mask >= (next - hole) & mask {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = 0
    }

    /// Doubles the table. A slot's home comes from the kept hash bits, so no
    /// value is hashed again. (Tables stay far below 2^32 slots.) Pauses for
    /// the engine's owner as it moves them, as a growing `HashIndex` does.
    private func grow() {
        var newSlots = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = newSlots.count - 1
        for entry in slots where entry != 0 {
            pauses?.row()
            var slot = Int(entry >> 32) & mask
            while newSlots[slot] != 0 { slot = (slot + 1) & mask }
            newSlots[slot] = entry
        }
        slots = newSlots
    }
}
