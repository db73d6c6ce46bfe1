import Testing

@testable import PolicyEngine

/// The engine driven by policy text: rules and facts, deletes, queries and errors.
@Suite struct EngineTextTests {
    func engine(_ text: String, policy: String = "alice") throws -> Engine {
        let engine = Engine()
        try engine.createPolicy(policy)
        var transaction = Transaction()
        transaction.insertRules(text, policy: policy)
        try engine.apply(transaction)
        return engine
    }

    @Test func rulesAndFactsFromText() throws {
        let engine = try engine(
            """
            error(vm) :- nova:servers(vm, host), not allowed(host)
            allowed("h1")
            """)
        try engine.change {
            $0.insert("nova:servers", "vm1", "h1")
            $0.insert("nova:servers", "vm2", "h2")
        }
        #expect(engine.rows("alice:error") == [["vm2"]])
        #expect(try engine.rules(in: "alice").count == 1)
        #expect(engine.remoteTables == [RuleBuilder.table("nova:servers")])
        #expect(try engine.query("alice:error(x)") == [["vm2"]])
        #expect(try engine.query("servers(\"vm1\", h)", defaultPolicy: "nova") == [["vm1", "h1"]])
        #expect(try engine.query("allowed", defaultPolicy: "alice") == [["h1"]])
    }

    @Test func deleteRulesByCanonicalTextAndDeleteFacts() throws {
        let engine = try engine(
            """
            q(x) :- r(x);
            r(1); r(2)
            """)
        #expect(engine.rows("alice:q") == [[1], [2]])
        var transaction = Transaction()
        transaction.deleteRules("q(x):-r(x); r(2)", policy: "alice")
        try engine.apply(transaction)
        #expect(try engine.rules(in: "alice").isEmpty)
        #expect(engine.rows("alice:q").isEmpty)
        #expect(engine.rows("alice:r") == [[1]])
    }

    @Test func recursionFromText() throws {
        let engine = try engine(
            """
            path(x, y) :- edge(x, y)
            path(x, z) :- path(x, y), edge(y, z)
            edge(1, 2). edge(2, 3). edge(3, 4).
            """, policy: "g")
        #expect(engine.rows("g:path").count == 6)
        #expect(try engine.query("g:path(1, y)") == [[1, 2], [1, 3], [1, 4]])
    }

    @Test func rejectedTextChangesNothing() throws {
        let engine = try engine("q(x) :- r(x)")
        let log = TriggerLog()
        engine.addTrigger(on: RuleBuilder.table("alice:r")) { log.deltas.append($0) }
        for (text, code) in [
            ("r(1)\np(x) :- ", PolicyError.Code.syntaxError),
            ("r(1)\nq(x, y) :- r(x), r(y)", .arityMismatch),
            ("r(1)\nbad(x) :- not r(x)", .unsafeVariable),
        ] {
            var transaction = Transaction()
            transaction.insertRules(text, policy: "alice")
            let error = #expect(throws: PolicyError.self) { try engine.apply(transaction) }
            #expect(error?.code == code)
            #expect(error?.location?.line == 2)
        }
        #expect(log.deltas.isEmpty)
        #expect(engine.rows("alice:r").isEmpty)
        #expect(try engine.rules(in: "alice") == ["q(x) :- r(x)"])
    }

    @Test func unknownPolicyAndRuleErrors() throws {
        let engine = try engine("q(x) :- r(x)")
        var insert = Transaction()
        insert.insertRules("p(1)", policy: "bob")
        #expect(throws: PolicyError(.unknownPolicy, "there is no policy 'bob'; create it first")) { try engine.apply(insert) }
        var delete = Transaction()
        delete.deleteRules("q(x) :- s(x)", policy: "alice")
        let error = #expect(throws: PolicyError.self) { try engine.apply(delete) }
        #expect(error?.code == .unknownRule)
        #expect(throws: PolicyError.self) { try engine.query("nosuch:table") }
    }
}
