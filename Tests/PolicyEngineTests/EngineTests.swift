import Testing

@testable import PolicyEngine

@Suite struct EngineTests {
    @Test func derivedFactSurvivesDeletingTheSameFact() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change {
            $0.insert(rule: RuleBuilder.rule("p", "p:q", [.v("x")], [.pos("p:r", [.v("x")])]))
            $0.insert("p:r", 1)
        }
        try engine.change { $0.insert("p:q", 1) }
        let deltas = try engine.change { $0.delete("p:q", 1) }
        #expect(deltas.isEmpty)
        #expect(engine.rows("p:q") == [[1]])
        try engine.change { $0.delete("p:r", 1) }
        #expect(engine.rows("p:q").isEmpty)
    }

    /// Deleting or looking up rows with values the engine never held neither
    /// changes anything nor grows the value pool (it would, for good, otherwise).
    @Test func absentValuesAreNotRemembered() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change { $0.insert("p:r", 1, "a") }
        let pooled = engine.pool.count
        for index in 0..<100 {
            #expect(try engine.change { $0.delete("p:r", .int(Int64(1000 + index)), "gone") }.isEmpty)
            #expect(!engine.containsFact([.string("never \(index)"), .int(1)], in: RuleBuilder.table("p:r")))
        }
        #expect(engine.pool.count == pooled)
        #expect(engine.rows("p:r") == [[1, "a"]])
        // An insert and a delete of a new value in one transaction still cancel out.
        #expect(try engine.change {
            $0.insert("p:r", 2, "b")
            $0.delete("p:r", 2, "b")
        }.isEmpty)
        #expect(engine.rows("p:r") == [[1, "a"]])
        // Arity is still checked for a row that cannot exist.
        #expect(throws: PolicyError.self) { try engine.change { $0.delete("p:r", "x") } }
    }

    @Test func rowRemovedAndRederivedIsInNeitherList() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change {
            $0.insert(rule: RuleBuilder.rule("p", "p:q", [.v("x")], [.pos("p:r", [.v("x"), .any])]))
            $0.insert("p:r", 1, "a")
        }
        let deltas = try engine.change {
            $0.delete("p:r", 1, "a")
            $0.insert("p:r", 1, "b")
        }
        #expect(deltas.map(\.table) == [RuleBuilder.table("p:r")])
        #expect(engine.rows("p:q") == [[1]])
    }

    @Test func transitiveClosureInsertsAndDeletes() throws {
        let engine = Engine()
        try engine.createPolicy("g")
        try engine.change {
            $0.insert(rule: RuleBuilder.rule("g", "g:path", [.v("x"), .v("y")], [.pos("g:edge", [.v("x"), .v("y")])]))
            $0.insert(
                rule: RuleBuilder.rule(
                    "g", "g:path", [.v("x"), .v("z")], [.pos("g:path", [.v("x"), .v("y")]), .pos("g:edge", [.v("y"), .v("z")])]))
            for (a, b) in [(1, 2), (2, 3), (3, 1), (3, 4)] { $0.insert("g:edge", .int(Int64(a)), .int(Int64(b))) }
        }
        #expect(engine.rows("g:path").count == 12)
        let deltas = try engine.change { $0.delete("g:edge", 3, 1) }
        #expect(engine.rows("g:path") == [[1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]])
        let pathDelta = try #require(deltas.first { $0.table == RuleBuilder.table("g:path") })
        #expect(pathDelta.added.isEmpty)
        #expect(pathDelta.removed.count == 6)
    }

    @Test func arithmeticTypeErrorsDoNotDerive() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change {
            $0.insert(rule: RuleBuilder.rule("p", "p:next", [.v("x"), .add(.v("y"), .c(1))], [.pos("p:cur", [.v("x"), .v("y")])]))
            $0.insert("p:cur", "a", 1)
            $0.insert("p:cur", "b", "text")
        }
        #expect(engine.rows("p:next") == [["a", 2]])
    }

    @Test func equalityBindsALoneVariable() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change {
            $0.insert(
                rule: RuleBuilder.rule(
                    "p", "p:q", [.v("x"), .v("z")], [.cmp(.equal, .v("z"), .add(.v("x"), .c(10))), .pos("p:r", [.v("x")])]))
            $0.insert(rule: RuleBuilder.rule("p", "p:l", [.v("x"), .v("n")], [.pos("p:s", [.v("x")]), .fn(.len, [.v("x")], .v("n"))]))
            $0.insert("p:r", 1)
            $0.insert("p:s", "abc")
        }
        #expect(engine.rows("p:q") == [[1, 11]])
        #expect(engine.rows("p:l") == [["abc", 3]])
    }

    @Test func unstratifiedNegationIsRejectedAndChangesNothing() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change { $0.insert("p:r", 1) }
        let error = #expect(throws: PolicyError.self) {
            try engine.change {
                $0.insert(rule: RuleBuilder.rule("p", "p:a", [.v("x")], [.pos("p:r", [.v("x")]), .neg("p:b", [.v("x")])]))
                $0.insert(rule: RuleBuilder.rule("p", "p:b", [.v("x")], [.pos("p:a", [.v("x")])]))
            }
        }
        #expect(error?.code == .unstratifiedNegation)
        #expect(try engine.rules(in: "p").isEmpty)
        #expect(!engine.contains(RuleBuilder.table("p:a")))
    }

    /// A rule given without text, which the checker never sees, closes a cycle
    /// through a text rule's `not`: the engine stratifies what it would run.
    @Test func aCycleThroughNegationAcrossTextAndLoweredRulesIsRejected() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change { $0.insertRules("r(1)\na(x) :- r(x), not b(x)", policy: "p") }
        let error = #expect(throws: PolicyError.self) {
            try engine.change { $0.insert(rule: RuleBuilder.rule("p", "p:b", [.v("x")], [.pos("p:a", [.v("x")])])) }
        }
        #expect(error?.code == .unstratifiedNegation)
        #expect(engine.rows("p:a") == [[1]])
        #expect(try engine.rules(in: "p") == ["a(x) :- r(x), not b(x)"])
    }

    @Test func addingARuleToAFilledEngineDerivesOnlyItsConsequences() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.change {
            for i in 0..<100 { $0.insert("p:r", .int(Int64(i))) }
        }
        let deltas = try engine.change {
            $0.insert(rule: RuleBuilder.rule("p", "p:q", [.v("x")], [.pos("p:r", [.v("x")]), .cmp(.less, .v("x"), .c(3))]))
        }
        #expect(deltas.map { $0.sorted() } == [TableDelta(table: RuleBuilder.table("p:q"), added: [[0], [1], [2]], removed: [])])
        let text = try engine.rules(in: "p")[0]
        let removal = try engine.change { $0.deleteRule(policy: "p", text: text) }
        #expect(removal.map { $0.sorted() } == [TableDelta(table: RuleBuilder.table("p:q"), added: [], removed: [[0], [1], [2]])])
    }

    @Test func forEachRowVisitsEveryRowOnce() throws {
        let engine = Engine()
        try engine.change {
            for i in 0..<50 { $0.insert("src:t", .int(Int64(i)), "x") }
        }
        var seen: [[Value]] = []
        engine.forEachRow(of: RuleBuilder.table("src:t")) { seen.append($0) }
        #expect(seen.sorted(by: rowPrecedes) == engine.rows("src:t"))
        #expect(engine.count(of: RuleBuilder.table("src:t")) == 50)
    }

    @Test func replaceComputesTheDifference() throws {
        let engine = Engine()
        let table = RuleBuilder.table("nova:servers")
        try engine.change {
            $0.insert("nova:servers", "vm1", "h1")
            $0.insert("nova:servers", "vm2", "h1")
        }
        let deltas = try engine.change { $0.replace(table, with: [["vm2", "h1"], ["vm3", "h2"]]) }
        #expect(deltas == [TableDelta(table: table, added: [["vm3", "h2"]], removed: [["vm1", "h1"]])])
        #expect(engine.remoteTables.isEmpty)
    }

    /// A replace with a set of rows, one of another arity: refused, and the table as it was.
    @Test func replaceWithASetChecksEachRowsArity() throws {
        let engine = Engine()
        let table = RuleBuilder.table("nova:servers")
        try engine.change { $0.insert("nova:servers", "vm1", "h1") }
        var transaction = Transaction()
        transaction.replace(table, with: Set([["vm2", "h1"], ["vm3"]] as [[Value]]))
        #expect(throws: PolicyError.self) { try engine.apply(transaction) }
        #expect(engine.rows(of: table) == [["vm1", "h1"]])
    }

    @Test func deletePolicyRemovesItsRulesAndFacts() throws {
        let engine = Engine()
        try engine.createPolicy("alice")
        try engine.change {
            $0.insert(rule: RuleBuilder.rule("alice", "alice:q", [.v("x")], [.pos("nova:s", [.v("x")])]))
            $0.insert("alice:f", 1)
            $0.insert("nova:s", 1)
        }
        #expect(engine.remoteTables == [RuleBuilder.table("nova:s")])
        try engine.deletePolicy("alice")
        #expect(engine.policies.isEmpty)
        #expect(engine.rows("alice:q").isEmpty)
        #expect(engine.rows("alice:f").isEmpty)
        #expect(engine.rows("nova:s") == [[1]])
        #expect(throws: PolicyError.self) { try engine.deletePolicy("alice") }
    }

    /// One transaction: triggers see the deltas to empty, queries no longer
    /// know the tables, and a new policy of the same name may give them
    /// other columns. A failing commit hook changes nothing.
    @Test func deletePolicyIsOneTransactionAndForgetsItsTables() throws {
        let engine = Engine()
        try engine.createPolicy("alice")
        var transaction = Transaction()
        transaction.insertRules("q(x) :- f(x)\nf(1)\nf(2)", policy: "alice")
        try engine.apply(transaction)
        var seen: [TableDelta] = []
        engine.addTrigger(on: TableID("alice:q")!) { seen.append($0.sorted()) }

        struct Refused: Error {}
        #expect(throws: Refused.self) { try engine.deletePolicy("alice") { throw Refused() } }
        #expect(engine.policies == ["alice"] && seen.isEmpty)
        #expect(try engine.query("alice:q").count == 2)

        try engine.deletePolicy("alice")
        #expect(seen == [TableDelta(table: TableID("alice:q")!, added: [], removed: [[.int(1)], [.int(2)]])])
        #expect(throws: PolicyError.self) { try engine.query("alice:q") }
        #expect(!engine.contains(TableID("alice:f")!))

        try engine.createPolicy("alice")
        var again = Transaction()
        again.insertRules("q(x, y) :- f(x, y)\nf(1, 2)", policy: "alice")
        try engine.apply(again)
        #expect(try engine.query("alice:q") == [[.int(1), .int(2)]])
    }

    /// `remoteInputs(of:)` keeps its map of rule bodies between calls; it
    /// follows every change of the rules and of the policies.
    @Test func remoteInputsFollowRuleAndPolicyChanges() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        let a = RuleBuilder.table("p:a")
        try engine.change { $0.insertRules("a(x) :- b(x).\nb(x) :- d:t(x).", policy: "p") }
        #expect(engine.remoteInputs(of: a) == [RuleBuilder.table("d:t")])
        try engine.change { $0.insertRules("b(x) :- e:u(x).", policy: "p") }
        #expect(engine.remoteInputs(of: a) == [RuleBuilder.table("d:t"), RuleBuilder.table("e:u")])
        try engine.change { $0.deleteRules("b(x) :- d:t(x).", policy: "p") }
        #expect(engine.remoteInputs(of: a) == [RuleBuilder.table("e:u")])
        // A policy named like the service: its tables are the engine's own now.
        try engine.createPolicy("e")
        #expect(engine.remoteInputs(of: a).isEmpty)
    }
}
