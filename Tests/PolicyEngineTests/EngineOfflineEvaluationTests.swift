import Foundation
import Testing
import TestSupport

@testable import PolicyEngine

@Suite struct EngineOfflineEvaluationTests {
    /// `eval` (policy text and a facts list, evaluated from scratch) equals the
    /// naive bottom-up `ReferenceEvaluator` on random recursive programs: random
    /// subsets of the graph and points-to programs over random facts.
    @Test func evalMatchesTheReferenceEvaluator() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("EngineOfflineEvaluationTests seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        for round in 0..<60 {
            let program = Bool.random(using: &random) ? EnginePropertyTests.graph : EnginePropertyTests.pointsTo
            let rules = program.rules.filter { _ in Int.random(in: 0..<4, using: &random) > 0 }
            let nodes = Int.random(in: 3...15, using: &random)
            var facts: [TableID: Set<[Value]>] = [:]
            for _ in 0..<Int.random(in: 0...(nodes * 4), using: &random) {
                let (name, arity) = program.factTables[Int.random(in: 0..<program.factTables.count, using: &random)]
                let row = (0..<arity).map { _ in Value.int(Int64(Int.random(in: 0..<nodes, using: &random))) }
                facts[RuleBuilder.table(name), default: []].insert(row)
            }
            let text = rules.map(\.text).joined(separator: "\n")
            let evaluated = try OfflineEvaluation.evaluate(
                policies: [.init(name: program.policy, text: text)],
                facts: facts.map { ("\($0.key)", Array($0.value)) }, tables: [])
            let expected = ReferenceEvaluator(rules: rules, facts: facts).evaluate()
            for name in program.tables {
                let table = RuleBuilder.table(name)
                let rows = evaluated.first { $0.table == table }?.rows ?? []
                #expect(rows == expected[table, default: []].sorted(by: rowPrecedes), "round \(round): \(table) differs; rules: \(text)")
            }
        }
    }

    @Test func factsDistinguishIntegersFromFloats() throws {
        let facts = try OfflineEvaluation.parseFacts(Data(#"{"t": [[1, 1.0, 2.5, "1", -3, 1e2]]}"#.utf8))
        #expect(facts.count == 1)
        #expect(facts[0].rows == [[.int(1), .float(1), .float(2.5), .string("1"), .int(-3), .float(100)]])
    }

    @Test(arguments: [#"{"t": [[true]]}"#, #"{"t": [[null]]}"#, #"{"t": [1]}"#, #"{"t": 1}"#, "[1]", "{", #"{"t": [[18446744073709551615]]}"#])
    func badFactsAreRejected(_ text: String) {
        let error = #expect(throws: PolicyError.self) { try OfflineEvaluation.parseFacts(Data(text.utf8)) }
        #expect(error?.code == .invalidFacts)
    }

    @Test func evaluatesPoliciesWithFactsAndPrintsSortedJSON() throws {
        let tables = try OfflineEvaluation.evaluate(
            policies: [.init(name: "alice", text: "error(vm) :- nova:servers(vm, host), not allowed(host)\nallowed(\"h1\")")],
            facts: [("nova:servers", [["vm2", "h2"], ["vm1", "h1"], ["vm0", "h3"]]), ("extra", [[.float(2.5)]])],
            tables: [])
        #expect(
            OfflineEvaluation.json(tables)
                == #"{"tables": {"alice:allowed": [["h1"]], "alice:error": [["vm0"], ["vm2"]], "alice:extra": [[2.5]], "nova:servers": [["vm0", "h3"], ["vm1", "h1"], ["vm2", "h2"]]}}"#
        )
        let selected = try OfflineEvaluation.evaluate(
            policies: [.init(name: "alice", text: "q(1.0)\nq(1)")], facts: [], tables: ["q"])
        #expect(OfflineEvaluation.json(selected) == #"{"tables": {"alice:q": [[1], [1.0]]}}"#)
    }

    @Test func policiesMayReferToEachOther() throws {
        let tables = try OfflineEvaluation.evaluate(
            policies: [.init(name: "a", text: "p(x) :- b:q(x)"), .init(name: "b", text: "q(1)")], facts: [], tables: ["a:p"])
        #expect(tables.map(\.rows) == [[[1]]])
    }

    @Test func errorsCarryCodeAndPosition() {
        let error = #expect(throws: PolicyError.self) {
            try OfflineEvaluation.evaluate(policies: [.init(name: "a", text: "p(x) :-\n  q(x), r(x y)")], facts: [], tables: [])
        }
        #expect(error?.code == .syntaxError)
        #expect(error?.location?.line == 2)
        if let error {
            let json = OfflineEvaluation.json(error)
            #expect(json.hasPrefix(#"{"error": {"code": "syntax-error", "message": "#))
            #expect(json.hasSuffix(#""line": 2, "column": \#(error.location!.column)}}"#))
        }
        let unknown = #expect(throws: PolicyError.self) {
            try OfflineEvaluation.evaluate(policies: [.init(name: "a", text: "p(1)")], facts: [], tables: ["nosuch"])
        }
        #expect(unknown?.code == .unknownTable)
    }

    @Test func jsonEscapesStrings() {
        #expect(OfflineEvaluation.jsonString("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
    }

    /// Issue 14, item 4: the facts loader kept integers at or below -10^18 as floats.
    @Test func factsKeepMinusTenToTheEighteenAsAnInteger() throws {
        let facts = try OfflineEvaluation.parseFacts(Array(#"{"p": [[-1000000000000000000]]}"#.utf8))
        #expect(facts[0].rows == [[.int(-1_000_000_000_000_000_000)]])
        let tables = try OfflineEvaluation.evaluate(
            policies: [.init(name: "a", text: "m(x) :- p(x), x = -1000000000000000000")], facts: facts, tables: ["p", "m"])
        #expect(OfflineEvaluation.json(tables) == #"{"tables": {"a:m": [[-1000000000000000000]], "a:p": [[-1000000000000000000]]}}"#)
        #expect(OfflineEvaluation.text(tables).contains("a:m(-1000000000000000000)"))
    }

    @Test func factsRefuseIntegersOutsideInt64WithTheirPosition() {
        let error = #expect(throws: PolicyError.self) {
            try OfflineEvaluation.parseFacts(Array("{\"p\": [[1],\n [9223372036854775808]]}".utf8))
        }
        #expect(error?.code == .invalidFacts)
        #expect(error?.message.contains("integer out of range") == true, "\(String(describing: error))")
        #expect(error?.message.hasSuffix("at line 2, column 3") == true, "\(String(describing: error))")
    }

    @Test func randomIntegersSurviveTheFactsFileAndTheOutput() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("EngineOfflineEvaluationTests.randomIntegersSurviveTheFactsFileAndTheOutput seed: \(seed)")
        var random = SeededRandom(seed: seed)
        let rows = (0..<500).map { _ in [Value.int(random.int64()), .int(random.int64())] }
        let text = "{\"t\": [" + rows.map { "[\($0[0]), \($0[1])]" }.joined(separator: ",\n") + "]}"
        let facts = try OfflineEvaluation.parseFacts(Array(text.utf8))
        #expect(facts[0].rows == rows, "seed \(seed)")
        let tables = try OfflineEvaluation.evaluate(policies: [.init(name: "a", text: "")], facts: facts, tables: ["t"])
        let printed = try JSON.parse(OfflineEvaluation.json(tables))
        let printedRows = printed["tables"]?["a:t"]?.arrayValue ?? []
        #expect(Set(printedRows) == Set(rows.map { JSON.array($0.map(JSON.init)) }), "seed \(seed)")
    }
}
