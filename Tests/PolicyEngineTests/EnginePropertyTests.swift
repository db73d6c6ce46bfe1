import Foundation
import Testing

@testable import PolicyEngine
import TestSupport

/// Random stratified programs over a fixed set of tables.
struct ProgramGenerator {
    struct TableSpec {
        var name: String
        var arity: Int
        /// 0 for base tables; derived tables only read tables of lower or equal
        /// level, and only negate lower levels, so every program is stratified.
        var level: Int
    }

    static let tables: [TableSpec] = [
        TableSpec(name: "src:b0", arity: 2, level: 0),
        TableSpec(name: "src:b1", arity: 1, level: 0),
        TableSpec(name: "p:f", arity: 2, level: 0),
        TableSpec(name: "p:d0", arity: 2, level: 1),
        TableSpec(name: "p:d1", arity: 1, level: 1),
        TableSpec(name: "p:d2", arity: 2, level: 2),
        TableSpec(name: "q:e0", arity: 2, level: 2),
        TableSpec(name: "q:e1", arity: 1, level: 3),
    ]

    static let domain: [Value] = [0, 1, 2, 3, 4, "a", "b"]

    static func value(_ random: inout SeededRandom) -> Value { domain.randomElement(using: &random)! }

    static func rule(_ random: inout SeededRandom) -> CheckedRule {
        let heads = tables.filter { $0.level > 0 }
        let head = heads.randomElement(using: &random)!
        let variables = ["x", "y", "z"]
        var body: [Literal] = []
        var bound: [String] = []
        var recursive = false
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let table = tables.filter { $0.level <= head.level }.randomElement(using: &random)!
            if table.level == head.level { recursive = true }
            var terms: [Term] = []
            for _ in 0..<table.arity {
                let roll = Int.random(in: 0..<10, using: &random)
                if roll == 0 {
                    terms.append(.c(value(&random)))
                } else if roll == 1 {
                    terms.append(.any)
                } else {
                    let name = variables.randomElement(using: &random)!
                    terms.append(.v(name))
                    if !bound.contains(name) { bound.append(name) }
                }
            }
            body.append(.pos(table.name, terms))
        }
        if bound.isEmpty {
            body.append(.pos("src:b1", [.v("x")]))
            bound.append("x")
        }
        func boundTerm(_ random: inout SeededRandom) -> Term { .v(bound.randomElement(using: &random)!) }

        if Bool.random(using: &random), let table = tables.filter({ $0.level < head.level }).randomElement(using: &random) {
            let terms: [Term] = (0..<table.arity).map { _ in
                let roll = Int.random(in: 0..<6, using: &random)
                return roll == 0 ? .any : roll == 1 ? .c(value(&random)) : boundTerm(&random)
            }
            body.append(.neg(table.name, terms))
        }
        if Int.random(in: 0..<3, using: &random) == 0 {
            let op = [ComparisonOperator.less, .lessOrEqual, .greater, .greaterOrEqual, .equal, .notEqual]
                .randomElement(using: &random)!
            let rhs: Term = Bool.random(using: &random) ? boundTerm(&random) : .c(value(&random))
            body.append(.cmp(op, boundTerm(&random), rhs))
        }
        var extra: [String] = []
        if recursive {
            // Bounded arithmetic, so that recursion terminates.
            if Int.random(in: 0..<3, using: &random) == 0 {
                body.append(.fn(.plus, [boundTerm(&random), .c(1)], .v("w")))
                body.append(.cmp(.less, .v("w"), .c(6)))
                extra.append("w")
            }
        } else {
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                let builtin = [Builtin.plus, .minus, .mul, .div, .max, .concat].randomElement(using: &random)!
                body.append(.fn(builtin, [boundTerm(&random), Bool.random(using: &random) ? boundTerm(&random) : .c(value(&random))], .v("w")))
                extra.append("w")
            case 1:
                let builtin = [Builtin.len, .int, .float].randomElement(using: &random)!
                body.append(.fn(builtin, [boundTerm(&random)], .v("w")))
                extra.append("w")
            case 2:
                body.append(.cmp(.equal, .v("w"), .add(boundTerm(&random), .c(1))))
                extra.append("w")
            default:
                break
            }
        }
        let choices = bound + extra
        let headTerms: [Term] = (0..<head.arity).map { _ in
            let roll = Int.random(in: 0..<10, using: &random)
            if roll == 0 { return .c(value(&random)) }
            let variable = Term.v(choices.randomElement(using: &random)!)
            if roll == 1 && !recursive { return .add(variable, .c(1)) }
            return variable
        }
        return RuleBuilder.rule(String(head.name.prefix { $0 != ":" }), head.name, headTerms, body)
    }
}

@Suite struct EnginePropertyTests {
    /// Random programs and random transactions (facts and rules); after each one
    /// the materialised tables must equal a from-scratch evaluation, and each
    /// trigger's delta applied to the previous contents must give the new contents.
    @Test func incrementalStateMatchesFromScratchEvaluation() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("EnginePropertyTests seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var transactions = 0
        // About 7,500 transactions over 50 programs: a few seconds.
        for _ in 0..<50 {
            transactions += try runProgram(&random, transactions: 150)
        }
        print("EnginePropertyTests: \(transactions) transactions checked")
    }

    private func runProgram(_ random: inout SeededRandom, transactions: Int) throws -> Int {
        var refused: Int?
        return try runProgram(&random, transactions: transactions, refusals: &refused)
    }

    private func runProgram(_ random: inout SeededRandom, transactions: Int, refusals: inout Int?) throws -> Int {
        let engine = Engine()
        try engine.createPolicy("p")
        try engine.createPolicy("q")
        for spec in ProgramGenerator.tables.prefix(3) {
            engine.declareColumns((0..<spec.arity).map { "c\($0)" }, for: RuleBuilder.table(spec.name))
        }
        var reference = ReferenceEvaluator(rules: [], facts: [:])
        let tables = ProgramGenerator.tables.map { RuleBuilder.table($0.name) }
        var contents: [TableID: [[Value]]] = [:]
        var fired: [TableID: [TableDelta]] = [:]
        for table in tables {
            engine.addTrigger(on: table) { fired[table, default: []].append($0) }
        }
        for step in 0..<transactions {
            var transaction = Transaction()
            var next = reference
            var invalid = false
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let roll = Int.random(in: 0..<20, using: &random)
                if roll < 2 && next.rules.count < 8 {
                    let rule = ProgramGenerator.rule(&random)
                    transaction.insert(rule: rule)
                    if !next.rules.contains(where: { $0.text == rule.text && $0.policy == rule.policy }) { next.rules.append(rule) }
                } else if roll < 3, let rule = next.rules.randomElement(using: &random) {
                    transaction.deleteRule(policy: rule.policy, text: rule.text)
                    next.rules.removeAll { $0.text == rule.text && $0.policy == rule.policy }
                } else if roll < 4 {
                    let spec = ProgramGenerator.tables[Int.random(in: 0..<3, using: &random)]
                    let rows = (0..<Int.random(in: 0...5, using: &random)).map { _ in
                        (0..<spec.arity).map { _ in ProgramGenerator.value(&random) }
                    }
                    // An array (repeats and all) or a set: the same facts either way.
                    if Bool.random(using: &random) {
                        transaction.replace(RuleBuilder.table(spec.name), with: rows)
                    } else {
                        transaction.replace(RuleBuilder.table(spec.name), with: Set(rows))
                    }
                    next.facts[RuleBuilder.table(spec.name)] = Set(rows)
                } else if roll == 4 && Int.random(in: 0..<4, using: &random) == 0 {
                    transaction.insert([1, 2, 3], into: RuleBuilder.table("src:b1"))
                    invalid = true
                } else {
                    // Facts go mostly into base tables, sometimes into derived ones.
                    let spec = ProgramGenerator.tables[Int.random(in: 0..<(roll < 16 ? 3 : 8), using: &random)]
                    let table = RuleBuilder.table(spec.name)
                    let existing = next.facts[table, default: []]
                    if Bool.random(using: &random), let row = existing.randomElement(using: &random) {
                        transaction.delete(row, from: table)
                        next.facts[table, default: []].remove(row)
                    } else {
                        let row = (0..<spec.arity).map { _ in ProgramGenerator.value(&random) }
                        transaction.insert(row, into: table)
                        next.facts[table, default: []].insert(row)
                    }
                }
            }
            fired = [:]
            if !invalid, refusals != nil, try !applyMaybeRefused(engine, transaction, &random, refusals: &refusals) {
                invalid = true
            } else if invalid {
                #expect(throws: PolicyError.self) { try engine.apply(transaction) }
            }
            if invalid {
                #expect(fired.isEmpty)
                for table in tables { #expect(engine.rows(of: table) == contents[table, default: []]) }
                continue
            }
            let previousFacts = reference.facts.filter { !$0.value.isEmpty }
            // `load` must fire the same triggers as `apply`; it returns no deltas.
            let loading = Int.random(in: 0..<4, using: &random) == 0
            var returned: [TableDelta]?
            if refusals != nil {
                // Applied above, within a budget or not.
            } else if loading {
                try engine.load(transaction)
            } else {
                returned = try engine.apply(transaction)
            }
            reference = next
            let expected = reference.evaluate()
            for table in tables {
                let actual = engine.rows(of: table)
                let wanted = expected[table, default: []].sorted(by: rowPrecedes)
                #expect(
                    actual == wanted,
                    "step \(step): \(table) differs; rules: \(reference.rules.map(\.text)); transaction: \(transaction.operations); facts before: \(previousFacts)")
                let deltas = fired[table, default: []]
                #expect(deltas.count <= 1, "step \(step): \(table) fired \(deltas.count) times")
                var previous = contents[table, default: []]
                if let delta = deltas.first {
                    #expect(!delta.added.isEmpty || !delta.removed.isEmpty)
                    #expect(Set(delta.removed).isSubset(of: Set(previous)), "step \(step): \(table) removed a row it did not have")
                    #expect(Set(delta.added).isDisjoint(with: Set(previous)), "step \(step): \(table) added a row it had")
                    previous = apply(delta, to: previous)
                }
                #expect(previous == actual, "step \(step): \(table) delta does not lead to the new contents")
                if let returned { #expect(returned.first { $0.table == table } == deltas.first) }
                contents[table] = actual
            }
            let violations = engine.rankViolations()
            #expect(violations.isEmpty, "step \(step): ranks not well founded: \(violations.prefix(3))")
            if actualMismatch(engine, expected, tables) || !violations.isEmpty { return step + 1 }
        }
        return transactions
    }

    /// Deep recursion over random graphs: linear and non-linear closure, mutual
    /// recursion (odd/even walks), negation from a lower stratum, facts stored in
    /// derived tables, and rule changes that split and merge recursive strata.
    /// Edge deletions exercise the ranked deletion far more than the small
    /// programs above; after each transaction the tables must equal a
    /// from-scratch evaluation and every rank must be well founded.
    @Test func graphRecursionMatchesFromScratchEvaluation() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("EnginePropertyTests graph seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var transactions = 0
        for _ in 0..<12 { transactions += try runGraph(Self.graph, &random, transactions: 120) }
        print("EnginePropertyTests: \(transactions) graph transactions checked")
    }

    /// As above, but a third of the transactions get a small budget or a
    /// commit hook that fails: a refused one (`too-expensive`, or the hook's
    /// error) must leave the engine exactly as it was, ranks well founded,
    /// so that the next transactions still match a from-scratch evaluation
    /// of the accepted ones.
    @Test func refusedTransactionsRollBackExactly() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("EnginePropertyTests roll-back seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var refused: Int? = 0
        var transactions = 0
        for program in [Self.graph, Self.pointsTo, Self.graph, Self.pointsTo, Self.graph, Self.pointsTo] {
            transactions += try runGraph(program, &random, transactions: 100, refusals: &refused)
        }
        for _ in 0..<20 { transactions += try runProgram(&random, transactions: 100, refusals: &refused) }
        print("EnginePropertyTests: \(transactions) transactions, \(refused ?? 0) refused and rolled back")
        #expect((refused ?? 0) > 100, "too few refusals to test the roll-back")
    }

    /// W4's shape in small: an Andersen-style points-to analysis (mutually
    /// recursive `pt` and `heap`, `reach` and `escapes` over them, `local`
    /// negating the recursive `escapes`), with random fact and rule changes.
    @Test func pointsToMatchesFromScratchEvaluation() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("EnginePropertyTests points-to seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var transactions = 0
        for _ in 0..<12 { transactions += try runGraph(Self.pointsTo, &random, transactions: 100) }
        print("EnginePropertyTests: \(transactions) points-to transactions checked")
    }

    /// A recursive program to mutate at random: its rules (any subset may be
    /// active), the tables to compare, and the tables facts go into with
    /// their arities (the first `baseTables` are no rule's head).
    struct RecursiveProgram {
        var policy: String
        var rules: [CheckedRule]
        var tables: [String]
        var factTables: [(name: String, arity: Int)]
        var baseTables: Int
    }

    static let graph = RecursiveProgram(
        policy: "g",
        rules: [
            RuleBuilder.rule("g", "g:edge", [.v("x"), .v("y")], [.pos("src:link", [.v("x"), .v("y")]), .neg("src:blocked", [.v("x")])]),
            RuleBuilder.rule("g", "g:path", [.v("x"), .v("y")], [.pos("g:edge", [.v("x"), .v("y")])]),
            RuleBuilder.rule("g", "g:path", [.v("x"), .v("z")], [.pos("g:path", [.v("x"), .v("y")]), .pos("g:edge", [.v("y"), .v("z")])]),
            RuleBuilder.rule("g", "g:path", [.v("x"), .v("z")], [.pos("g:path", [.v("x"), .v("y")]), .pos("g:path", [.v("y"), .v("z")])]),
            RuleBuilder.rule("g", "g:odd", [.v("x"), .v("y")], [.pos("g:edge", [.v("x"), .v("y")])]),
            RuleBuilder.rule("g", "g:even", [.v("x"), .v("z")], [.pos("g:odd", [.v("x"), .v("y")]), .pos("g:edge", [.v("y"), .v("z")])]),
            RuleBuilder.rule("g", "g:odd", [.v("x"), .v("z")], [.pos("g:even", [.v("x"), .v("y")]), .pos("g:edge", [.v("y"), .v("z")])]),
            RuleBuilder.rule(
                "g", "g:odd", [.v("x"), .v("y")], [.pos("g:path", [.v("x"), .v("y")]), .pos("g:path", [.v("y"), .v("x")]), .cmp(.less, .v("x"), .c(2))]),
        ],
        tables: ["src:link", "src:blocked", "g:edge", "g:path", "g:odd", "g:even"],
        factTables: [("src:link", 2), ("src:blocked", 1), ("g:path", 2), ("g:odd", 2), ("g:even", 2)],
        baseTables: 2)

    static let pointsTo = RecursiveProgram(
        policy: "a",
        rules: [
            RuleBuilder.rule("a", "a:pt", [.v("v"), .v("o")], [.pos("src:alloc", [.v("v"), .v("o")])]),
            RuleBuilder.rule("a", "a:pt", [.v("v"), .v("o")], [.pos("src:assign", [.v("v"), .v("u")]), .pos("a:pt", [.v("u"), .v("o")])]),
            RuleBuilder.rule(
                "a", "a:pt", [.v("v"), .v("o")],
                [.pos("src:load", [.v("v"), .v("p")]), .pos("a:pt", [.v("p"), .v("q")]), .pos("a:heap", [.v("q"), .v("o")])]),
            RuleBuilder.rule(
                "a", "a:heap", [.v("q"), .v("o")],
                [.pos("src:store", [.v("p"), .v("u")]), .pos("a:pt", [.v("p"), .v("q")]), .pos("a:pt", [.v("u"), .v("o")])]),
            RuleBuilder.rule("a", "a:reach", [.v("o"), .v("r")], [.pos("a:heap", [.v("o"), .v("r")])]),
            RuleBuilder.rule("a", "a:reach", [.v("o"), .v("s")], [.pos("a:reach", [.v("o"), .v("r")]), .pos("a:heap", [.v("r"), .v("s")])]),
            RuleBuilder.rule("a", "a:escapes", [.v("o")], [.pos("src:global", [.v("v")]), .pos("a:pt", [.v("v"), .v("o")])]),
            RuleBuilder.rule("a", "a:escapes", [.v("r")], [.pos("a:escapes", [.v("o")]), .pos("a:reach", [.v("o"), .v("r")])]),
            RuleBuilder.rule("a", "a:local", [.v("v"), .v("o")], [.pos("a:pt", [.v("v"), .v("o")]), .neg("a:escapes", [.v("o")])]),
        ],
        tables: ["src:alloc", "src:assign", "src:load", "src:store", "src:global", "a:pt", "a:heap", "a:reach", "a:escapes", "a:local"],
        factTables: [("src:alloc", 2), ("src:assign", 2), ("src:load", 2), ("src:store", 2), ("src:global", 1), ("a:pt", 2), ("a:heap", 2)],
        baseTables: 5)

    private func runGraph(_ program: RecursiveProgram, _ random: inout SeededRandom, transactions: Int) throws -> Int {
        var refused: Int?
        return try runGraph(program, &random, transactions: transactions, refusals: &refused)
    }

    struct HookFailed: Error {}

    /// Applies `transaction`; with `refusals` set, a third of the time within
    /// a small budget or with a failing commit hook, counting the refusals.
    /// - Returns: whether the engine accepted it.
    private func applyMaybeRefused(_ engine: Engine, _ transaction: Transaction, _ random: inout SeededRandom, refusals: inout Int?) throws -> Bool {
        guard let count = refusals, Int.random(in: 0..<3, using: &random) == 0 else {
            try engine.apply(transaction)
            return true
        }
        let budget = TransactionBudget(derivedRows: Int.random(in: 0..<60, using: &random))
        let hookFails = Int.random(in: 0..<4, using: &random) == 0
        do {
            try engine.apply(transaction, budget: budget) { if hookFails { throw HookFailed() } }
            return true
        } catch let error as PolicyError where error.code == .tooExpensive {
        } catch is HookFailed {}
        refusals = count + 1
        return false
    }

    private func runGraph(
        _ program: RecursiveProgram, _ random: inout SeededRandom, transactions: Int, refusals: inout Int?
    ) throws -> Int {
        let engine = Engine()
        try engine.createPolicy(program.policy)
        let nodes = Int.random(in: 4...12, using: &random)
        let tables = program.tables.map(RuleBuilder.table)
        var rules = program.rules.filter { _ in Int.random(in: 0..<4, using: &random) > 0 }
        var facts: [TableID: Set<[Value]>] = [:]
        func node(_ random: inout SeededRandom) -> Value { .int(Int64(Int.random(in: 0..<nodes, using: &random))) }
        func row(_ arity: Int, _ random: inout SeededRandom) -> [Value] { (0..<arity).map { _ in node(&random) } }
        var setup = Transaction()
        for rule in rules { setup.insert(rule: rule) }
        for _ in 0..<(nodes * 2) {
            let (name, arity) = program.factTables[Int.random(in: 0..<program.baseTables, using: &random)]
            let values = row(arity, &random)
            setup.insert(values, into: RuleBuilder.table(name))
            facts[RuleBuilder.table(name), default: []].insert(values)
        }
        try engine.apply(setup)
        for step in 0..<transactions {
            let (rulesBefore, factsBefore) = (rules, facts)
            var transaction = Transaction()
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let roll = Int.random(in: 0..<20, using: &random)
                if roll < 2 {
                    // Toggle a rule: this can merge or split recursive strata.
                    let rule = program.rules.randomElement(using: &random)!
                    if let index = rules.firstIndex(where: { $0.text == rule.text }) {
                        transaction.deleteRule(policy: program.policy, text: rule.text)
                        rules.remove(at: index)
                    } else {
                        transaction.insert(rule: rule)
                        rules.append(rule)
                    }
                    continue
                }
                // Mostly base facts, sometimes facts stored in derived tables.
                let choices = roll < 5 ? program.factTables.count : program.baseTables
                let (name, arity) = program.factTables[Int.random(in: 0..<choices, using: &random)]
                let table = RuleBuilder.table(name)
                let existing = facts[table, default: []]
                if Int.random(in: 0..<5, using: &random) < 3, let victim = existing.randomElement(using: &random) {
                    transaction.delete(victim, from: table)
                    facts[table, default: []].remove(victim)
                } else {
                    let values = row(arity, &random)
                    transaction.insert(values, into: table)
                    facts[table, default: []].insert(values)
                }
            }
            if try !applyMaybeRefused(engine, transaction, &random, refusals: &refusals) { (rules, facts) = (rulesBefore, factsBefore) }
            let expected = ReferenceEvaluator(rules: rules, facts: facts).evaluate()
            for table in tables {
                #expect(
                    engine.rows(of: table) == expected[table, default: []].sorted(by: rowPrecedes),
                    "\(program.policy) step \(step): \(table) differs; rules: \(rules.map(\.text)); transaction: \(transaction.operations)")
            }
            let violations = engine.rankViolations()
            #expect(violations.isEmpty, "\(program.policy) step \(step): ranks not well founded: \(violations.prefix(3))")
            if actualMismatch(engine, expected, tables) || !violations.isEmpty { return step + 1 }
        }
        return transactions
    }

    /// Stops a program at its first mismatch, so one failure does not cascade into hundreds.
    private func actualMismatch(_ engine: Engine, _ expected: [TableID: Set<[Value]>], _ tables: [TableID]) -> Bool {
        tables.contains { engine.rows(of: $0) != expected[$0, default: []].sorted(by: rowPrecedes) }
    }
}
