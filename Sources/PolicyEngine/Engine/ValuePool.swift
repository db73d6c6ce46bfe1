/// Interns values to small integer ids, so that a stored row is a few `UInt32`s.
///
/// Equal values (by `Value ==`) get the same id, so row equality is id equality.
/// Ids are never reused: a value stays interned for the engine's lifetime.
final class ValuePool {
    private(set) var values: [Value] = []
    // Open addressing over `values` indices (id + 1; 0 is empty). Cheaper than a
    // `[Value: UInt32]` dictionary, which would store every value a second time.
    private var slots: [UInt32] = Array(repeating: 0, count: 1024)

    var count: Int { values.count }

    subscript(id: UInt32) -> Value { values[Int(id)] }

    /// The id of `value`, interning it if it is new.
    func intern(_ value: Value) -> UInt32 {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: value.hashValue) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { break }
            if values[Int(entry - 1)] == value { return entry - 1 }
            slot = (slot + 1) & mask
        }
        let id = UInt32(values.count)
        values.append(value)
        slots[slot] = id + 1
        if values.count * 4 > slots.count * 3 { grow() }
        return id
    }

    /// The id of `value` if it was ever interned.
    func id(of value: Value) -> UInt32? {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: value.hashValue) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return nil }
            if values[Int(entry - 1)] == value { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    private func grow() {
        var newSlots = [UInt32](repeating: 0, count: slots.count * 2)
        let mask = newSlots.count - 1
        for (index, value) in values.enumerated() {
            var slot = Int(truncatingIfNeeded: value.hashValue) & mask
            while newSlots[slot] != 0 { slot = (slot + 1) & mask }
            newSlots[slot] = UInt32(index + 1)
        }
        slots = newSlots
    }
}
