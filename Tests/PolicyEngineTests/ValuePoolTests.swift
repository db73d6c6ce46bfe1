import Testing

@testable import PolicyEngine
import TestSupport

@Suite struct ValuePoolTests {
    /// Interning, holding, releasing, sweeping (sometimes with a pin alive)
    /// and interning again, against a model: a held value keeps its id and
    /// reads back, a value nobody holds is gone after a sweep without a pin
    /// and kept with one, a freed id is given to the next new value, and the
    /// ids never pass the most values ever live at once.
    @Test func sweepsFreeExactlyTheUnheldValues() {
        let seed = propertyTestSeed()
        print("ValuePoolTests.sweepsFreeExactlyTheUnheldValues seed: \(seed) (rerun with TEST_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        func value(_ random: inout SeededRandom) -> Value {
            Bool.random(using: &random)
                ? .int(Int64.random(in: 0..<3000, using: &random)) : .string("s\(Int.random(in: 0..<3000, using: &random))")
        }
        for round in 0..<30 {
            let pool = ValuePool()
            // The model: each interned value's id and holders.
            var model: [Value: (id: UInt32, holders: Int)] = [:]
            var mostLive = 0
            for _ in 0..<8 {
                for _ in 0..<Int.random(in: 0..<3000, using: &random) {
                    let v = value(&random)
                    let id = pool.intern(v)
                    if let known = model[v] { #expect(known.id == id, "seed \(seed) round \(round): \(v) changed id") }
                    // Most new values get held, as a stored row would hold them; some are only named.
                    let held = Int.random(in: 0..<4, using: &random) > 0 ? Int.random(in: 1...2, using: &random) : 0
                    for _ in 0..<held { pool.hold(id) }
                    model[v] = (id, (model[v]?.holders ?? 0) + held)
                    mostLive = max(mostLive, model.count)
                }
                for (v, entry) in model where entry.holders > 0 && Int.random(in: 0..<3, using: &random) == 0 {
                    pool.release(entry.id)
                    model[v]!.holders -= 1
                }
                let pin = Int.random(in: 0..<4, using: &random) == 0 ? ValuePool.Pin(pool) : nil
                pool.sweep()
                if pin == nil { model = model.filter { $0.value.holders > 0 } }
                withExtendedLifetime(pin) {}
                #expect(pool.count == model.count, "seed \(seed) round \(round)")
                #expect(pool.idLimit <= mostLive, "seed \(seed) round \(round): ids beyond the most values live at once")
                for (v, entry) in model where pool.id(of: v) != entry.id || pool[entry.id] != v {
                    Issue.record("seed \(seed) round \(round): \(v) lost its id \(entry.id)")
                }
            }
            // Everything released: a sweep empties the pool.
            for entry in model.values { for _ in 0..<entry.holders { pool.release(entry.id) } }
            pool.sweep()
            #expect(pool.count == 0, "seed \(seed) round \(round)")
        }
    }

    /// At the densest (three quarters full, just before the table grows),
    /// probe runs are long and a grow has placed values out of their
    /// interning order: freeing a few slot by slot must not cut off the
    /// values after them in a run.
    @Test func freeingFewValuesOfADenseTableKeepsEveryOther() {
        let seed = propertyTestSeed()
        print("ValuePoolTests.freeingFewValuesOfADenseTableKeepsEveryOther seed: \(seed) (rerun with TEST_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        for round in 0..<200 {
            let pool = ValuePool()
            let slots = 1024 << Int.random(in: 1...4, using: &random)
            var kept: [Value] = []
            while kept.count < slots * 3 / 4 {
                let v = Value.int(Int64.random(in: 0..<1_000_000_000, using: &random))
                let id = pool.intern(v)
                if Int(id) == kept.count {
                    kept.append(v)
                    pool.hold(id)
                }
            }
            pool.sweep()
            let count = kept.count - Int.random(in: 1..<(slots / 64), using: &random)
            for id in count..<kept.count { pool.release(UInt32(id)) }
            pool.sweep()
            kept.removeSubrange(count...)
            let lost = kept.enumerated().filter { pool.id(of: $0.element) != UInt32($0.offset) }
            #expect(lost.isEmpty, "seed \(seed) round \(round): \(lost.count) values lost their ids")
            #expect(pool.count == kept.count)
        }
    }
}
