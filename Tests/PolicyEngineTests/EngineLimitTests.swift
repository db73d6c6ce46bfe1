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

    /// A table name over `maxTableNameLength` anywhere in rule text (head,
    /// body, negated, another service's, a fact) is `bad-table-name`, for an
    /// insert and a delete alike; at the limit it is accepted; text with a
    /// syntax error gets that error.
    @Test func ruleTextNamingALongTableIsRefused() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        engine.maxTableNameLength = 256
        let name = String(repeating: "t", count: 254)  // p:ttt… is 256 bytes
        let over = [
            "h(x) :- \(name)t(x).", "h(x) :- q(x), not \(name)t(x).", "\(name)t(x) :- q(x).", "\(name)t(1).",
            "h(x) :- other:\(name.dropFirst(3))(x).",
        ]
        for text in over {
            for delete in [false, true] {
                var transaction = Transaction()
                if delete { transaction.deleteRules(text, policy: "p") } else { transaction.insertRules(text, policy: "p") }
                let error = #expect(throws: PolicyError.self, "\(text)") { try engine.apply(transaction) }
                #expect(error?.code.rawValue == "bad-table-name", "\(text)")
                #expect(error?.message == "the rule text names a table of 257 bytes; the limit is 256", "\(text)")
                #expect(error?.location == nil, "the message is the whole of it: \(text)")
            }
        }
        var broken = Transaction()
        broken.insertRules("h(x) :- \(name)t(x", policy: "p")
        #expect((#expect(throws: PolicyError.self) { try engine.apply(broken) })?.code == .syntaxError)

        var atLimit = Transaction()
        atLimit.insertRules("h(x) :- \(name)(x).\n\(name)(1).", policy: "p")
        try engine.apply(atLimit)
        #expect(engine.rows(of: RuleBuilder.table("p:h")) == [[1]])
        // Unbounded unless set: policy files and offline evaluation.
        let offline = Engine()
        try offline.createPolicy("p")
        var long = Transaction()
        long.insertRules("h(x) :- \(name)t(x).", policy: "p")
        try offline.apply(long)
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
