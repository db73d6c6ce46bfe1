import Testing

@testable import PolicyEngine

/// Hostile programs get an error with a stable code; none may crash the engine.
@Suite struct EngineLimitTests {
    /// `p(x0, xn) :- q(x0, x1), q(x1, x2), ..., q(xn-1, xn)`: a join chain of `n` literals.
    static func chain(_ n: Int) -> String {
        "p(x0, x\(n)) :- " + (0..<n).map { "q(x\($0), x\($0 + 1))" }.joined(separator: ", ")
    }

    /// Issue 12: a 10,000-literal body crashed the executor's recursion (SIGSEGV in `Executor.step`).
    @Test func oversizedRuleBodyIsAnErrorAndTheEngineKeepsWorking() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        var transaction = Transaction()
        transaction.insertRules(Self.chain(10_000) + "\nq(1, 1)", policy: "p")
        let error = #expect(throws: PolicyError.self) { try engine.apply(transaction) }
        #expect(error?.code == .ruleTooLarge)
        #expect(error?.message.contains("at most \(Planner.maxBodyLiterals)") == true)
        #expect(engine.rows(of: RuleBuilder.table("p:q")).isEmpty, "a rejected change leaves the engine as it was")

        var small = Transaction()
        small.insertRules("r(x) :- q(x, x)\nq(1, 1)", policy: "p")
        try engine.apply(small)
        #expect(engine.rows(of: RuleBuilder.table("p:r")) == [[1]])
    }

    /// A body at the limit evaluates, both from scratch and incrementally.
    @Test func ruleBodyAtTheLimitEvaluates() throws {
        let n = Planner.maxBodyLiterals
        let engine = Engine()
        try engine.createPolicy("p")
        var transaction = Transaction()
        transaction.insertRules(Self.chain(n), policy: "p")
        for k in 0..<n { transaction.insert([.int(Int64(k)), .int(Int64(k + 1))], into: RuleBuilder.table("p:q")) }
        try engine.apply(transaction)
        #expect(engine.rows(of: RuleBuilder.table("p:p")) == [[0, .int(Int64(n))]])

        var shift = Transaction()
        shift.delete([0, 1], from: RuleBuilder.table("p:q"))
        shift.insert([.int(Int64(n)), .int(Int64(n + 1))], into: RuleBuilder.table("p:q"))
        try engine.apply(shift)
        #expect(engine.rows(of: RuleBuilder.table("p:p")) == [[1, .int(Int64(n + 1))]])
    }
}
