import Foundation
import Testing
import TestSupport

@testable import PolicyEngine

/// The executor's flat plans hold unretained stores and cache the position
/// of each scanned store's secondary index: checks that what a plan caches
/// stays true when the store it points into is compacted or grows.
@Suite struct FlatPlanTests {
    /// A plan keeps the position of `q`'s index on `x` across transactions.
    /// Compaction between transactions rebuilt `q`'s storage without its
    /// secondary indexes, so the next index built on `q` (on `y`, for `g`)
    /// took that position, and `h`'s cached plan looked `x` up in it.
    @Test func cachedIndexPositionSurvivesCompaction() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change { $0.insertRules("h(x, y) :- q(x, y), a(x).\ng(x, y) :- q(x, y), b(y).", policy: "p") }
        try engine.change { for i in 0..<2000 { $0.insert("p:q", .int(Int64(i)), .int(Int64(10_000 + i))) } }
        // Most of `q` goes (it is compacted at the end); `a(5)` plans `h` seeded by `a`, reading `q` by `x`.
        try engine.change {
            for i in 300..<2000 { $0.delete("p:q", .int(Int64(i)), .int(Int64(10_000 + i))) }
            $0.insert("p:a", 5)
        }
        let q = try #require(engine.tableStates[RuleBuilder.table("p:q")])
        #expect(q.rows.idLimit == 300, "q was not compacted: the test no longer covers compaction")
        try engine.change { $0.insert("p:b", 10_007) }
        try engine.change { $0.insert("p:a", 7) }
        #expect(engine.rows("p:g") == [[7, 10_007]])
        #expect(engine.rows("p:h") == [[5, 10_005], [7, 10_007]])
    }

    /// Tables of no columns: their one possible row has an empty key, which
    /// the executor and the stores look up like any other, also in a
    /// recursive rule and after its support goes.
    @Test func tablesOfNoColumns() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change { $0.insertRules("on() :- q(_).\nloop() :- on().\nloop() :- loop(), q(_).\noff(x) :- q(x), not on().", policy: "p") }
        #expect(engine.rows("p:on").isEmpty && engine.rows("p:loop").isEmpty && engine.rows("p:off").isEmpty)
        try engine.change { $0.insert("p:q", 1) }
        #expect(engine.rows("p:on") == [[]] && engine.rows("p:loop") == [[]] && engine.rows("p:off").isEmpty)
        try engine.change { $0.delete("p:q", 1) }
        #expect(engine.rows("p:on").isEmpty && engine.rows("p:loop").isEmpty)
        try engine.change { $0.insert("p:on") }
        #expect(engine.rows("p:on") == [[]] && engine.rows("p:loop") == [[]])
    }
}

extension FlatPlanTests {
    /// Rules whose plans scan `q` by every column set, once or twice (a
    /// self-join), absent from it, and a recursive table joined with itself
    /// and with `q`; `e` is often empty.
    static let rules: [CheckedRule] = [
        RuleBuilder.rule("p", "p:h", [.v("x"), .v("y")], [.pos("p:q", [.v("x"), .v("y")]), .pos("p:a", [.v("x")])]),
        RuleBuilder.rule("p", "p:g", [.v("x"), .v("y")], [.pos("p:q", [.v("x"), .v("y")]), .pos("p:b", [.v("y")])]),
        RuleBuilder.rule("p", "p:k", [.v("x")], [.pos("p:a", [.v("x")]), .neg("p:q", [.v("x"), .any])]),
        RuleBuilder.rule("p", "p:m", [.v("x"), .v("z")], [.pos("p:a", [.v("x")]), .pos("p:q", [.v("x"), .v("y")]), .pos("p:q", [.v("y"), .v("z")])]),
        RuleBuilder.rule("p", "p:n", [.v("x")], [.pos("p:q", [.v("x"), .v("x")])]),
        RuleBuilder.rule("p", "p:w", [.v("x"), .v("y")], [.pos("p:e", [.v("x")]), .pos("p:q", [.v("x"), .v("y")])]),
        RuleBuilder.rule("p", "p:r", [.v("x"), .v("y")], [.pos("p:s", [.v("x"), .v("y")])]),
        RuleBuilder.rule("p", "p:r", [.v("x"), .v("z")], [.pos("p:r", [.v("x"), .v("y")]), .pos("p:r", [.v("y"), .v("z")])]),
        RuleBuilder.rule("p", "p:u", [.v("x")], [.pos("p:r", [.v("x"), .v("x")]), .neg("p:c", [.v("x")])]),
        RuleBuilder.rule("p", "p:t", [.v("x"), .v("y")], [.pos("p:r", [.v("x"), .v("y")]), .pos("p:q", [.v("y"), .v("x")])]),
        // Recursive, and as large as `q`: it is compacted when `q` shrinks.
        RuleBuilder.rule("p", "p:z", [.v("x"), .v("y")], [.pos("p:a", [.v("x")]), .pos("p:q", [.v("x"), .v("y")])]),
        RuleBuilder.rule("p", "p:z", [.v("x"), .v("y")], [.pos("p:z", [.v("x"), .v("w")]), .pos("p:q", [.v("w"), .v("y")]), .pos("p:b", [.v("y")])]),
    ]

    static let tables = ["p:q", "p:a", "p:b", "p:c", "p:e", "p:s", "p:h", "p:g", "p:k", "p:m", "p:n", "p:w", "p:r", "p:u", "p:t", "p:z"]
        .map(RuleBuilder.table)

    /// Random transactions that grow `q` by hundreds of rows, delete most of
    /// it (so that it and the tables derived from it are compacted), empty
    /// tables, change a few rows, store facts in the recursive `r`, and
    /// toggle rules. After each, every table equals an evaluation from
    /// scratch in a fresh engine (no cached plan, nothing compacted), and,
    /// while the tables are small enough for it, the naive
    /// `ReferenceEvaluator`'s.
    @Test func plansMatchFromScratchAsTablesGrowShrinkAndEmpty() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("FlatPlanTests seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var stats = Stats()
        for _ in 0..<8 { try runProgram(&random, transactions: 50, seed: seed, stats: &stats) }
        print(
            "FlatPlanTests: \(stats.transactions) transactions (\(stats.refusals) refused and rolled back), \(stats.compactions) compactions, "
                + "\(stats.referenceChecks) also against the reference")
        #expect(stats.compactions >= 4, "seed \(seed): too few compactions to test them")
        #expect(stats.referenceChecks >= 20, "seed \(seed): too few reference checks")
        #expect(stats.refusals >= 8, "seed \(seed): too few refusals to test the roll-back")
    }

    struct Stats {
        var transactions = 0
        var compactions = 0
        var referenceChecks = 0
        var refusals = 0
    }

    /// Applies `transaction` within `budget`. - Returns: false when it was refused as too expensive.
    private func accepts(_ engine: Engine, _ transaction: Transaction, _ budget: TransactionBudget) throws -> Bool {
        do {
            try engine.apply(transaction, budget: budget)
            return true
        } catch {
            if error.code == .tooExpensive { return false }
            throw error
        }
    }

    private func runProgram(_ random: inout SeededRandom, transactions: Int, seed: UInt64, stats: inout Stats) throws {
        let engine = Engine()
        try engine.createPolicy("p")
        var rules = Self.rules.filter { _ in Int.random(in: 0..<5, using: &random) > 0 }
        var facts: [TableID: Set<[Value]>] = [:]
        var setup = Transaction()
        for rule in rules { setup.insert(rule: rule) }
        try engine.apply(setup)
        func value(_ random: inout SeededRandom) -> Value { .int(Int64(Int.random(in: 0..<48, using: &random))) }
        func node(_ random: inout SeededRandom) -> Value { .int(Int64(Int.random(in: 0..<10, using: &random))) }
        let q = RuleBuilder.table("p:q")

        for step in 0..<transactions {
            let (rulesBefore, factsBefore) = (rules, facts)
            var transaction = Transaction()
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let roll = Int.random(in: 0..<20, using: &random)
                switch roll {
                case 0..<3:
                    for _ in 0..<Int.random(in: 300...900, using: &random) {
                        let row = [value(&random), value(&random)]
                        transaction.insert(row, into: q)
                        facts[q, default: []].insert(row)
                    }
                case 3..<5:
                    let keep = Int.random(in: 0..<4, using: &random) == 0 ? 0 : 12
                    for row in facts[q, default: []] where Int.random(in: 0..<100, using: &random) >= keep {
                        transaction.delete(row, from: q)
                        facts[q]!.remove(row)
                    }
                case 5:
                    let rows = (0..<Int.random(in: 0...4, using: &random)).map { _ in [value(&random), value(&random)] }
                    transaction.replace(q, with: rows)
                    facts[q] = Set(rows)
                case 6:
                    let rule = Self.rules.randomElement(using: &random)!
                    if let index = rules.firstIndex(where: { $0.text == rule.text }) {
                        transaction.deleteRule(policy: "p", text: rule.text)
                        rules.remove(at: index)
                    } else {
                        transaction.insert(rule: rule)
                        rules.append(rule)
                    }
                case 7:
                    let e = RuleBuilder.table("p:e")
                    let rows = Bool.random(using: &random) ? [] : (0..<5).map { _ in [value(&random)] }
                    transaction.replace(e, with: rows)
                    facts[e] = Set(rows)
                default:
                    let (name, arity) = [("p:a", 1), ("p:b", 1), ("p:c", 1), ("p:e", 1), ("p:s", 2), ("p:s", 2), ("p:r", 2)]
                        .randomElement(using: &random)!
                    let table = RuleBuilder.table(name)
                    if Bool.random(using: &random), let victim = facts[table, default: []].randomElement(using: &random) {
                        transaction.delete(victim, from: table)
                        facts[table]!.remove(victim)
                    } else {
                        let row = arity == 1 ? [value(&random)] : [node(&random), node(&random)]
                        transaction.insert(row, into: table)
                        facts[table, default: []].insert(row)
                    }
                }
            }
            let sizes = Self.tables.map { engine.tableStates[$0]?.rows.idLimit ?? 0 }
            // A sixth within a small budget: a refused one is rolled back, and
            // the engine must be as it was, plans and indexes included.
            let budget = Int.random(in: 0..<6, using: &random) == 0
                ? TransactionBudget(derivedRows: Int.random(in: 0..<100, using: &random)) : .unlimited
            if try accepts(engine, transaction, budget) {
                // A roll-back shrinks stores too: counted only here.
                stats.compactions += zip(Self.tables, sizes).count { table, size in (engine.tableStates[table]?.rows.idLimit ?? 0) < size }
            } else {
                (rules, facts) = (rulesBefore, factsBefore)
                stats.refusals += 1
            }
            stats.transactions += 1

            let fresh = Engine()
            try fresh.createPolicy("p")
            var everything = Transaction()
            for rule in rules { everything.insert(rule: rule) }
            for (table, rows) in facts { for row in rows { everything.insert(row, into: table) } }
            try fresh.apply(everything)
            let reference = facts[q, default: []].count <= 300 ? ReferenceEvaluator(rules: rules, facts: facts).evaluate() : nil
            if reference != nil { stats.referenceChecks += 1 }
            for table in Self.tables {
                let actual = engine.rows(of: table)
                #expect(actual == fresh.rows(of: table), "seed \(seed) step \(step): \(table) differs from scratch; rules: \(rules.map(\.text))")
                if let reference {
                    #expect(actual == reference[table, default: []].sorted(by: rowPrecedes), "seed \(seed) step \(step): \(table) differs from the reference")
                }
                if actual != fresh.rows(of: table) { return }
            }
        }
    }
}
