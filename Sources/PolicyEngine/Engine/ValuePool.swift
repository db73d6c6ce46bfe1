/// Interns values to small integer ids, so that a stored row is a few `UInt32`s.
///
/// Equal values (by `Value ==`) get the same id, so row equality is id equality.
/// A value stays interned for the engine's lifetime, except the values of a
/// refused, rolled-back or simulated transaction, which `truncate` forgets
/// (their ids are then given again).
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

    var count: Int { values.count }

    @inline(__always)
    subscript(id: UInt32) -> Value { values[Int(id)] }

    /// The id of `value`, interning it if it is new.
    func intern(_ value: Value) -> UInt32 {
        let (slot, tag, found) = probe(value)
        if let found { return found }
        let id = UInt32(values.count)
        values.append(value)
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

    /// Forgets every value interned after the first `count`: those of a
    /// transaction that was refused, rolled back or simulated, which no
    /// stored row or rule holds, so that such requests cannot grow the pool.
    /// A few values are taken out of their slots one by one (a simulated
    /// change names a few); more cost a pass over the slots, no value hashed again.
    func truncate(to count: Int) {
        guard count < values.count else { return }
        if (values.count - count) * 64 < slots.count {
            for id in (count..<values.count).reversed() { removeSlot(of: UInt32(id)) }
            values.removeSubrange(count...)
            return
        }
        values.removeSubrange(count...)
        let mask = slots.count - 1
        var kept = [UInt64](repeating: 0, count: slots.count)
        for entry in slots where entry != 0 && Int(UInt32(truncatingIfNeeded: entry)) - 1 < count {
            var slot = Int(entry >> 32) & mask
            while kept[slot] != 0 { slot = (slot + 1) & mask }
            kept[slot] = entry
        }
        slots = kept
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
    /// value is hashed again. (Tables stay far below 2^32 slots.)
    private func grow() {
        var newSlots = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = newSlots.count - 1
        for entry in slots where entry != 0 {
            var slot = Int(entry >> 32) & mask
            while newSlots[slot] != 0 { slot = (slot + 1) & mask }
            newSlots[slot] = entry
        }
        slots = newSlots
    }
}
