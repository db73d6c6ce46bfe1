import Testing

@testable import PolicyEngine
import TestSupport

@Suite struct ValuePoolTests {
    /// Interning, truncating (a few values, taken out slot by slot, or many,
    /// by a rebuild) and interning again: every kept value keeps its id, every
    /// forgotten one is gone, and new values get the next ids.
    @Test func truncateForgetsExactlyTheNewerValues() {
        let seed = propertyTestSeed()
        print("ValuePoolTests.truncateForgetsExactlyTheNewerValues seed: \(seed) (rerun with TEST_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        func value(_ random: inout SeededRandom) -> Value {
            Bool.random(using: &random)
                ? .int(Int64.random(in: 0..<5000, using: &random)) : .string("s\(Int.random(in: 0..<5000, using: &random))")
        }
        for round in 0..<40 {
            let pool = ValuePool()
            var kept: [Value] = []
            for _ in 0..<6 {
                for _ in 0..<Int.random(in: 0..<6000, using: &random) {
                    let v = value(&random)
                    let id = pool.intern(v)
                    if Int(id) == kept.count { kept.append(v) }
                    #expect(kept[Int(id)] == v, "seed \(seed) round \(round)")
                }
                // Mostly few enough to be taken out slot by slot (fewer than a 64th of the slots).
                let forget = Int.random(in: 0..<4, using: &random) > 0
                    ? Int.random(in: 0...kept.count / 100, using: &random) : Int.random(in: 0...kept.count, using: &random)
                let count = max(0, kept.count - forget)
                let forgotten = kept[count...]
                pool.truncate(to: count)
                kept.removeSubrange(count...)
                #expect(pool.count == kept.count, "seed \(seed) round \(round)")
                for (id, v) in kept.enumerated() where pool.id(of: v) != UInt32(id) {
                    Issue.record("seed \(seed) round \(round): \(v) lost its id \(id)")
                }
                for v in forgotten where pool.id(of: v) != nil {
                    Issue.record("seed \(seed) round \(round): \(v) was not forgotten")
                }
            }
        }
    }

    /// At the densest (three quarters full, just before the table grows),
    /// probe runs are long and a grow has placed values out of their
    /// interning order: taking a few out slot by slot must not cut off the
    /// values after them in a run.
    @Test func takingFewValuesOutOfADenseTableKeepsEveryOther() {
        let seed = propertyTestSeed()
        print("ValuePoolTests.takingFewValuesOutOfADenseTableKeepsEveryOther seed: \(seed) (rerun with TEST_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        for round in 0..<200 {
            let pool = ValuePool()
            let slots = 1024 << Int.random(in: 1...4, using: &random)
            var kept: [Value] = []
            while kept.count < slots * 3 / 4 {
                let v = Value.int(Int64.random(in: 0..<1_000_000_000, using: &random))
                if Int(pool.intern(v)) == kept.count { kept.append(v) }
            }
            let count = kept.count - Int.random(in: 1..<(slots / 64), using: &random)
            pool.truncate(to: count)
            kept.removeSubrange(count...)
            let lost = kept.enumerated().filter { pool.id(of: $0.element) != UInt32($0.offset) }
            #expect(lost.isEmpty, "seed \(seed) round \(round): \(lost.count) values lost their ids")
        }
    }
}
