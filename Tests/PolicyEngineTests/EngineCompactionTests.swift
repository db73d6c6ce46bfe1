import Testing
import TestSupport

@testable import PolicyEngine

/// Deleted rows give their memory back (issue 12): a table whose rows were
/// mostly deleted is renumbered between transactions, with its counts,
/// fact flags and ranks, and reads the same as before.
@Suite struct EngineCompactionTests {
    /// Chains of ten nodes, their closure (recursive, ranked) and a
    /// negation over them; most edges deleted at random, then some put
    /// back. Every table matches the closure computed here, and the closure's
    /// storage shrinks with it.
    @Test func tablesThatShrinkGiveBackTheirStorageAndKeepTheirRows() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("EngineCompactionTests seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let engine = Engine()
        try engine.createPolicy("p")
        let edges = (0..<3000).filter { $0 % 10 != 9 }.map { [$0, $0 + 1] }
        try engine.change {
            $0.insertRules("reach(x, y) :- e(x, y).\nreach(x, z) :- reach(x, y), e(y, z).\nlone(x) :- e(x, _), not reach(_, x).", policy: "p")
            for edge in edges { $0.insert("p:e", .int(Int64(edge[0])), .int(Int64(edge[1]))) }
        }
        let reach = try #require(engine.tableStates[RuleBuilder.table("p:reach")])
        let full = reach.rows.byteCount
        try check(engine, edges: Set(edges), seed: seed)

        var kept = Set(edges)
        for edge in edges where random.next() % 20 != 0 { kept.remove(edge) }
        // In a few transactions, so that compaction meets a table mid-shrink too.
        let gone = Array(Set(edges).subtracting(kept))
        for part in stride(from: 0, to: gone.count, by: 700) {
            try engine.change { for edge in gone[part..<min(part + 700, gone.count)] { $0.delete("p:e", .int(Int64(edge[0])), .int(Int64(edge[1]))) } }
        }
        try check(engine, edges: kept, seed: seed)
        #expect(reach.rows.byteCount * 4 < full, "seed \(seed): \(reach.rows.byteCount) bytes of \(full) kept for \(reach.rows.count) rows")

        let back = gone.filter { _ in random.next() % 3 == 0 }
        try engine.change { for edge in back { $0.insert("p:e", .int(Int64(edge[0])), .int(Int64(edge[1]))) } }
        try check(engine, edges: kept.union(back), seed: seed)
    }

    func check(_ engine: Engine, edges: Set<[Int]>, seed: UInt64) throws {
        let next = Dictionary(uniqueKeysWithValues: edges.map { ($0[0], $0[1]) })
        var closure: Set<[Int]> = []
        for (from, to) in next {
            var node = to
            closure.insert([from, node])
            while let further = next[node] {
                closure.insert([from, further])
                node = further
            }
        }
        let targets = Set(closure.map { $0[1] })
        let lone = Set(next.keys.filter { !targets.contains($0) }.map { [$0] })
        #expect(Set(engine.rows("p:e").map(ints)) == edges, "seed \(seed)")
        #expect(Set(engine.rows("p:reach").map(ints)) == closure, "seed \(seed)")
        #expect(Set(engine.rows("p:lone").map(ints)) == lone, "seed \(seed)")
    }

    func ints(_ row: [Value]) -> [Int] {
        row.map { if case .int(let value) = $0 { Int(value) } else { -1 } }
    }
}
