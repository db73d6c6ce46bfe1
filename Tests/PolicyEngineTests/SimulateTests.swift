import Foundation
import Testing

@testable import PolicyEngine
import TestSupport

/// `Engine.simulate`: the delta a change would give each table, with the
/// engine left exactly as it was.
@Suite struct SimulateTests {
    /// For random programs and random changes (facts into base and derived
    /// tables, replaces, rule inserts and deletes, invalid rows), simulate's
    /// delta for every table equals the delta the same change then really
    /// produces; after simulate every table, rule and rank is unchanged and no
    /// trigger fired. A change the engine refuses is refused by both alike.
    /// A twin engine that never simulates takes the same changes: the two
    /// must hold the same rows after every step (a simulation that left a
    /// count or rank wrong would show in a later change).
    @Test func simulateGivesTheRealDeltaAndChangesNothing() throws {
        let seed = propertyTestSeed()
        print("SimulateTests.simulateGivesTheRealDeltaAndChangesNothing seed: \(seed) (rerun with TEST_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var compared = 0
        var refused = 0
        for _ in 0..<30 {
            let engine = Engine()
            let twin = Engine()
            for policy in ["p", "q"] {
                try engine.createPolicy(policy)
                try twin.createPolicy(policy)
            }
            let tables = ProgramGenerator.tables.map { RuleBuilder.table($0.name) }
            var fired = 0
            for table in tables { engine.addTrigger(on: table) { _ in fired += 1 } }
            var rules: [CheckedRule] = []
            for step in 0..<60 {
                let transaction = Self.randomTransaction(&random, rules: &rules)
                let before = Self.state(engine, tables)
                fired = 0
                let simulated = Result { () throws(PolicyError) in try engine.simulate(transaction, tables: tables) }
                #expect(fired == 0, "seed \(seed) step \(step): simulate fired a trigger")
                #expect(Self.state(engine, tables) == before, "seed \(seed) step \(step): simulate changed the engine")
                #expect(engine.rankViolations().isEmpty, "seed \(seed) step \(step)")

                let real = Result { () throws(PolicyError) in try engine.apply(transaction) }
                _ = try? twin.apply(transaction)
                #expect(Self.state(engine, tables) == Self.state(twin, tables), "seed \(seed) step \(step): differs from the twin")
                switch (simulated, real) {
                case (.success(let deltas), .success(let applied)):
                    for delta in deltas {
                        let wanted = applied.first { $0.table == delta.table }?.sorted() ?? TableDelta(table: delta.table, added: [], removed: [])
                        #expect(delta == wanted, "seed \(seed) step \(step): \(delta.table); transaction: \(transaction.operations)")
                    }
                    #expect(deltas.map(\.table) == tables)
                    compared += 1
                case (.failure(let simulatedError), .failure(let realError)):
                    #expect(simulatedError.code == realError.code, "seed \(seed) step \(step)")
                    refused += 1
                default:
                    Issue.record("seed \(seed) step \(step): simulate \(simulated), apply \(real); \(transaction.operations)")
                }
                if case .failure = real { rules = Self.rules(engine) }
            }
        }
        print("SimulateTests: \(compared) changes compared, \(refused) refused by both")
        #expect(compared > 1000 && refused > 0)
    }

    /// Over the budget, simulate is refused (`too-expensive`) and changes nothing.
    @Test func aSimulationOverTheBudgetIsRefusedAndChangesNothing() throws {
        let engine = Engine()
        try engine.createPolicy("p")
        var load = Transaction()
        load.insertRules("path(x, y) :- e(x, y)\npath(x, z) :- path(x, y), e(y, z)", policy: "p")
        for node in 0..<30 { load.insert([.int(Int64(node)), .int(Int64(node + 1))], into: TableID("p:e")!) }
        try engine.apply(load)
        let path = TableID("p:path")!
        let before = engine.rows(of: path)
        var close = Transaction()
        close.insert([.int(30), .int(0)], into: TableID("p:e")!)
        #expect(throws: PolicyError.self) { try engine.simulate(close, tables: [path], budget: TransactionBudget(derivedRows: 50)) }
        #expect(engine.rows(of: path) == before)
        let delta = try engine.simulate(close, tables: [path, path])
        #expect(delta.count == 1 && delta[0].added.count == 31 * 31 - before.count && delta[0].removed.isEmpty)
        #expect(engine.rows(of: path) == before)
    }

    /// Every table's rows, every policy's rules and the known tables.
    static func state(_ engine: Engine, _ tables: [TableID]) -> [String] {
        tables.map { "\($0): \(engine.rows(of: $0))" } + engine.policies.map { "\($0): \((try? engine.rules(in: $0)) ?? [])" }
            + ["tables: \(engine.tables)"]
    }

    static func rules(_ engine: Engine) -> [CheckedRule] {
        engine.rulesByKey.values.map(\.rule)
    }

    /// One to four random operations: rules inserted and deleted, facts into
    /// base and derived tables, a replace, and now and then a row of the wrong
    /// width. `rules` follows the rules the change would leave.
    static func randomTransaction(_ random: inout SeededRandom, rules: inout [CheckedRule]) -> Transaction {
        var transaction = Transaction()
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let roll = Int.random(in: 0..<20, using: &random)
            if roll < 3 && rules.count < 8 {
                let rule = ProgramGenerator.rule(&random)
                transaction.insert(rule: rule)
                if !rules.contains(where: { $0.text == rule.text && $0.policy == rule.policy }) { rules.append(rule) }
            } else if roll < 5, let rule = rules.randomElement(using: &random) {
                transaction.deleteRule(policy: rule.policy, text: rule.text)
                rules.removeAll { $0.text == rule.text && $0.policy == rule.policy }
            } else if roll < 6 {
                let spec = ProgramGenerator.tables[Int.random(in: 0..<3, using: &random)]
                let rows = (0..<Int.random(in: 0...5, using: &random)).map { _ in (0..<spec.arity).map { _ in ProgramGenerator.value(&random) } }
                transaction.replace(RuleBuilder.table(spec.name), with: rows)
            } else if roll == 6 && Int.random(in: 0..<3, using: &random) == 0 {
                transaction.insert([1, 2, 3], into: RuleBuilder.table("src:b1"))
            } else {
                let spec = ProgramGenerator.tables[Int.random(in: 0..<(roll < 16 ? 3 : 8), using: &random)]
                let row = (0..<spec.arity).map { _ in ProgramGenerator.value(&random) }
                if Bool.random(using: &random) {
                    transaction.insert(row, into: RuleBuilder.table(spec.name))
                } else {
                    transaction.delete(row, from: RuleBuilder.table(spec.name))
                }
            }
        }
        return transaction
    }
}
