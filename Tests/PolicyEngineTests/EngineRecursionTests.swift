import Testing

@testable import PolicyEngine

/// Recursive strata: cyclic support, mutual recursion, and rule changes that
/// make a table recursive or stop it being so.
@Suite struct EngineRecursionTests {
    func engine(_ text: String) throws -> Engine {
        let engine = Engine()
        try engine.createPolicy("p")
        var transaction = Transaction()
        transaction.insertRules(text, policy: "p")
        try engine.apply(transaction)
        return engine
    }

    @discardableResult
    func change(_ engine: Engine, insert: String = "", delete: String = "") throws -> [TableDelta] {
        var transaction = Transaction()
        if !delete.isEmpty { transaction.deleteRules(delete, policy: "p") }
        if !insert.isEmpty { transaction.insertRules(insert, policy: "p") }
        return try engine.apply(transaction).map { $0.sorted() }
    }

    @Test func rowsSupportingOnlyEachOtherAreDeleted() throws {
        let engine = try engine(
            """
            a(x) :- base(x)
            a(x) :- b(x)
            b(x) :- a(x)
            base(1); base(2)
            """)
        #expect(engine.rows("p:b") == [[1], [2]])
        let deltas = try change(engine, delete: "base(1)")
        #expect(engine.rows("p:a") == [[2]])
        #expect(engine.rows("p:b") == [[2]])
        #expect(deltas.first { $0.table == RuleBuilder.table("p:a") }?.removed == [[1]])
    }

    @Test func rowWithAnotherProofSurvivesAndFiresNothing() throws {
        let engine = try engine(
            """
            path(x, y) :- edge(x, y)
            path(x, z) :- path(x, y), edge(y, z)
            edge(1, 2); edge(2, 3); edge(1, 3)
            """)
        let log = TriggerLog()
        engine.addTrigger(on: RuleBuilder.table("p:path")) { log.deltas.append($0) }
        try change(engine, delete: "edge(2, 3)")
        #expect(engine.rows("p:path") == [[1, 2], [1, 3]])
        #expect(log.deltas.map { $0.sorted() } == [TableDelta(table: RuleBuilder.table("p:path"), added: [], removed: [[2, 3]])])
    }

    @Test func tableThatStopsBeingRecursiveIsRecounted() throws {
        let engine = try engine(
            """
            p(x) :- q(x)
            q(x) :- p(x)
            q(x) :- r(x)
            r(1)
            """)
        #expect(engine.rows("p:p") == [[1]])
        try change(engine, delete: "q(x) :- p(x)")
        #expect(engine.rows("p:q") == [[1]])
        try change(engine, insert: "r(2)")
        #expect(engine.rows("p:p") == [[1], [2]])
        try change(engine, delete: "r(1)")
        #expect(engine.rows("p:p") == [[2]])
        #expect(engine.rows("p:q") == [[2]])
    }

    @Test func ruleThatMakesATableRecursive() throws {
        let engine = try engine(
            """
            reach(x, y) :- link(x, y)
            link(1, 2); link(2, 3); link(3, 4)
            """)
        let deltas = try change(engine, insert: "reach(x, z) :- reach(x, y), link(y, z)")
        #expect(engine.rows("p:reach").count == 6)
        #expect(deltas.first { $0.table == RuleBuilder.table("p:reach") }?.added == [[1, 3], [1, 4], [2, 4]])
        try change(engine, delete: "link(2, 3)")
        #expect(engine.rows("p:reach") == [[1, 2], [3, 4]])
    }

    @Test func mutualRecursionWithNegationBelow() throws {
        let engine = try engine(
            """
            even(0)
            odd(y) :- even(x), y = x + 1, y < 6, not blocked(y)
            even(y) :- odd(x), y = x + 1, y < 6, not blocked(y)
            """)
        #expect(engine.rows("p:odd") == [[1], [3], [5]])
        try change(engine, insert: "blocked(3)")
        #expect(engine.rows("p:odd") == [[1]])
        #expect(engine.rows("p:even") == [[0], [2]])
        try change(engine, delete: "blocked(3)")
        #expect(engine.rows("p:even") == [[0], [2], [4]])
    }
}
