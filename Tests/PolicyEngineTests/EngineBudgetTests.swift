import Foundation
import Testing

@testable import PolicyEngine

/// Issue 12: rules that derive without end (a counter, a growing `concat`, a
/// cross product) each held an engine until memory ran out. Within a
/// `TransactionBudget` each is refused with `too-expensive` and rolled back
/// whole: rules, facts, derived rows and triggers as they were.
@Suite struct EngineBudgetTests {
    /// An engine with some state to keep: policy `c` with facts, a recursive
    /// closure and a trigger on it that counts firings.
    func engine() throws -> (Engine, () -> Int) {
        let engine = Engine()
        try engine.createPolicy("c")
        var transaction = Transaction()
        transaction.insertRules("e(1, 2). e(2, 3). e(3, 1). n(0). s(\"a\").\npath(x, y) :- e(x, y)\npath(x, z) :- path(x, y), e(y, z)", policy: "c")
        try engine.apply(transaction)
        final class Count { var value = 0 }
        let firings = Count()
        engine.addTrigger(on: TableID("c:path")!) { _ in firings.value += 1 }
        return (engine, { firings.value })
    }

    func state(_ engine: Engine) throws -> [String] {
        try engine.rules(in: "c") + engine.tables.sorted().map { "\($0): \(engine.rows(of: $0))" }
    }

    func refusal(_ engine: Engine, _ text: String, facts: [(String, [Value])] = [], budget: TransactionBudget) -> PolicyError? {
        var transaction = Transaction()
        transaction.insertRules(text, policy: "c")
        for (table, row) in facts { transaction.insert(row, into: TableID(table)!) }
        var hookCalled = false
        let error = #expect(throws: PolicyError.self) { try engine.apply(transaction, budget: budget) { hookCalled = true } }
        #expect(!hookCalled, "a refused transaction is never made durable")
        return error
    }

    @Test(arguments: [
        // A counter: one new row per round, for ever.
        ("n(y) :- n(x), y = x + 1", TransactionBudget(derivedRows: 5000), TransactionBudget.Resource.derivedRows),
        // Strings one character longer per round: bytes run out before rows do.
        ("s(y) :- s(x), concat(x, \"b\", y)", TransactionBudget(derivedRows: 1_000_000, computedBytes: 200_000), .computedBytes),
        // A cross product of 60 rows, three times over: 216,000 rows.
        ("big(x, y, z) :- q(x), q(y), q(z)", TransactionBudget(derivedRows: 10_000), .derivedRows),
        // A rule that merges the closure's stratum, with a counter through two tables in the same transaction.
        ("path(x, y) :- path(y, x)\nm(y) :- n(x), y = x + 2\nn(y) :- m(y)", TransactionBudget(derivedRows: 2000), .derivedRows),
    ])
    func anExpensiveChangeIsRolledBackWhole(text: String, budget: TransactionBudget, resource: TransactionBudget.Resource) throws {
        let (engine, firings) = try engine()
        var setup = Transaction()
        for value in 0..<60 { setup.insert([.int(Int64(value))], into: TableID("c:q")!) }
        try engine.apply(setup)
        let before = try state(engine)
        let firedBefore = firings()
        let interned = engine.pool.count
        let error = refusal(engine, text, facts: [("c:e", [3, 4]), ("c:e", [4, 1])], budget: budget)
        #expect(error?.code == .tooExpensive)
        #expect(engine.pool.count == interned, "the refused change's values are forgotten")
        #expect(error?.message.contains(resource.rawValue) == true, "\(String(describing: error))")
        #expect(try state(engine) == before)
        #expect(firings() == firedBefore)
        #expect(engine.rankViolations().isEmpty)

        // The engine works on: a change within the budget goes through.
        var next = Transaction()
        next.insert([3, 4], into: TableID("c:e")!)
        try engine.apply(next, budget: budget)
        #expect(Set(engine.rows(of: TableID("c:path")!)).isSuperset(of: [[1, 4], [2, 4], [3, 4]]))
        #expect(firings() == firedBefore + 1)
    }

    /// A join that scans much and derives nothing is bounded by time: 300³
    /// combinations take seconds, the budget is 50 ms.
    @Test func aJoinThatDerivesLittleRunsOutOfTime() throws {
        let (engine, firings) = try engine()
        var setup = Transaction()
        for value in 0..<300 { setup.insert([.int(Int64(value))], into: TableID("c:q")!) }
        try engine.apply(setup)
        let before = try state(engine)
        let start = ContinuousClock.now
        let error = refusal(engine, "none(x) :- q(x), q(y), q(z), lt(x, y), lt(y, z), lt(z, x)", budget: TransactionBudget(milliseconds: 50))
        print("EngineBudgetTests: the scanning join was refused after \(ContinuousClock.now - start)")
        #expect(error?.code == .tooExpensive)
        #expect(error?.message.contains("milliseconds") == true, "\(String(describing: error))")
        #expect(try state(engine) == before)
        #expect(firings() == 0)
    }

    /// A change that needs less than its budget is not refused, and neither is
    /// any change without a budget.
    @Test func aChangeWithinItsBudgetGoesThrough() throws {
        let (engine, _) = try engine()
        var transaction = Transaction()
        transaction.insertRules("pair(x, y) :- q(x), q(y)", policy: "c")
        for value in 0..<30 { transaction.insert([.int(Int64(value))], into: TableID("c:q")!) }
        try engine.apply(transaction, budget: TransactionBudget(derivedRows: 1000))
        #expect(engine.rows(of: TableID("c:pair")!).count == 900)
        var more = Transaction()
        for value in 30..<40 { more.insert([.int(Int64(value))], into: TableID("c:q")!) }
        #expect(throws: PolicyError.self) { try engine.apply(more, budget: TransactionBudget(derivedRows: 500)) }
        #expect(engine.rows(of: TableID("c:pair")!).count == 900)
        try engine.apply(more)
        #expect(engine.rows(of: TableID("c:pair")!).count == 1600)
    }

    /// The counter: refused, in time in proportion to the budget (the
    /// time is printed, not asserted: the machine may be busy).
    @Test func theCounterIsRefusedWithinItsBudget() throws {
        let (engine, _) = try engine()
        let start = Date()
        let budget = TransactionBudget(derivedRows: 100_000)
        let error = refusal(engine, "n(y) :- n(x), y = x + 1", budget: budget)
        print("EngineBudgetTests: the counter ran out of \(budget.derivedRows) derived rows in \(Date().timeIntervalSince(start)) s")
        #expect(error?.code == .tooExpensive)
        #expect(engine.rows(of: TableID("c:n")!) == [[0]])
    }

    /// A transaction refused for any reason leaves no value behind in the pool,
    /// and the values that stay keep their ids.
    @Test func refusedTransactionsLeaveThePoolAsItWas() throws {
        let (engine, _) = try engine()
        let interned = engine.pool.count
        var wide = Transaction()
        for index in 0..<1000 { wide.insert([.string("new-\(index)")], into: TableID("c:fresh")!) }
        wide.insert([1, 2, 3], into: TableID("c:fresh")!)  // arity-mismatch, found last
        #expect(throws: PolicyError.self) { try engine.apply(wide) }
        #expect(engine.pool.count == interned)
        struct Full: Error {}
        var hooked = Transaction()
        hooked.insert([.string("kept out")], into: TableID("c:other")!)
        #expect(throws: Full.self) { try engine.apply(hooked) { throw Full() } }
        #expect(engine.pool.count == interned)
        var accepted = Transaction()
        accepted.insert([.string("in")], into: TableID("c:other")!)
        accepted.insert([4, 1], into: TableID("c:e")!)
        try engine.apply(accepted)
        #expect(engine.rows(of: TableID("c:other")!) == [[.string("in")]])
        #expect(Set(engine.rows(of: TableID("c:path")!)).isSuperset(of: [[4, 1], [4, 2], [4, 3]]))
        #expect(engine.rows(of: TableID("c:s")!) == [[.string("a")]])
    }

    /// `load` (eval) takes the same budget.
    @Test func offlineEvaluationTakesTheBudget() throws {
        let policies = [OfflineEvaluation.PolicySource(name: "c", text: "n(0).\nn(y) :- n(x), y = x + 1")]
        let error = #expect(throws: PolicyError.self) {
            try OfflineEvaluation.load(policies: policies, facts: [], budget: TransactionBudget(derivedRows: 1000))
        }
        #expect(error?.code == .tooExpensive)
    }
}

extension EngineBudgetTests {
    /// `simulate` rolls back through the same path: its values go too.
    @Test func simulateLeavesThePoolAsItWas() throws {
        let (engine, _) = try engine()
        let interned = engine.pool.count
        var change = Transaction()
        change.insert([.string("only simulated")], into: TableID("c:other")!)
        let deltas = try engine.simulate(change, tables: [TableID("c:other")!])
        #expect(deltas.first?.added == [[.string("only simulated")]])
        #expect(engine.pool.count == interned)
    }
}
