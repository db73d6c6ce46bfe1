import Foundation
import Testing

@testable import PolicyEngine

@Suite struct EngineOfflineEvaluationTests {
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
}
