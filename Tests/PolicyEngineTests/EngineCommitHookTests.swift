import Testing

@testable import PolicyEngine

/// `apply(_:beforeCommit:)`: the hook runs only for a valid transaction
/// within its budget, before any trigger fires, and a hook that throws rolls
/// the transaction back: the engine is as it was, with no trigger fired.
@Suite struct EngineCommitHookTests {
    struct LogFull: Error {}

    /// Policy `c` with `q(1)` and `r(x) :- q(x)`, and a trigger on `c:r` that counts its firings.
    func engine() throws -> (Engine, () -> Int) {
        let engine = Engine()
        try engine.createPolicy("c")
        var transaction = Transaction()
        transaction.insertRules("q(1).\nr(x) :- q(x).", policy: "c")
        try engine.apply(transaction)
        final class Count { var value = 0 }
        let firings = Count()
        engine.addTrigger(on: TableID("c:r")!) { _ in firings.value += 1 }
        return (engine, { firings.value })
    }

    @Test func theHookRunsBeforeAnyTriggerFires() throws {
        let (engine, firings) = try engine()
        var transaction = Transaction()
        transaction.insertRules("q(2).\ns(x) :- r(x).", policy: "c")
        var firingsInHook: Int?
        try engine.apply(transaction) { firingsInHook = firings() }
        #expect(firingsInHook == 0, "no subscriber sees the change before it is durable")
        #expect(Set(engine.rows(of: TableID("c:r")!)) == [[.int(1)], [.int(2)]])
        #expect(firings() == 1)
    }

    @Test func aThrowingHookCommitsNothing() throws {
        let (engine, firings) = try engine()
        let rulesBefore = try engine.rules(in: "c")
        var transaction = Transaction()
        transaction.insertRules("q(5).\ns(x) :- q(x).", policy: "c")
        transaction.delete([.int(1)], from: TableID("c:q")!)
        #expect(throws: LogFull.self) { try engine.apply(transaction) { throw LogFull() } }
        #expect(try engine.rules(in: "c") == rulesBefore)
        #expect(engine.rows(of: TableID("c:q")!) == [[.int(1)]])
        #expect(engine.rows(of: TableID("c:r")!) == [[.int(1)]])
        #expect(firings() == 0)
        // The engine still works after the aborted commit.
        try engine.apply(transaction)
        #expect(engine.rows(of: TableID("c:q")!) == [[.int(5)]])
        #expect(firings() == 1)
    }

    @Test func aRefusedTransactionNeverCallsTheHook() throws {
        let (engine, firings) = try engine()
        var transaction = Transaction()
        transaction.insertRules("p(x) :- q(x), not p(x).", policy: "c")
        var called = false
        #expect(throws: PolicyError.self) { try engine.apply(transaction) { called = true } }
        #expect(!called)
        #expect(firings() == 0)
    }
}
