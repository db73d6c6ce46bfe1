import Foundation
import Testing
import TestSupport

@testable import PolicyEngine

/// `eval`'s fast paths against the plain ones: facts read straight into an
/// engine (`readFacts`) against rows of values (`parseFacts`), and tables
/// written from the engine's ids (`write`) against rows of values sorted
/// and printed (`json`, `text`).
@Suite struct EngineOfflineOutputTests {
    /// Random facts files (ints with their edges, floats equal to ints,
    /// tricky strings; arities 0 to 4; a table name given twice), a rule
    /// over them: the engine holds exactly the parsed rows, and `write`
    /// prints what `json` and `text` print for those rows.
    @Test func fastReadAndWriteMatchThePlainOnes() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("EngineOfflineOutputTests.fastReadAndWriteMatchThePlainOnes seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for round in 0..<40 {
            // One round in four has a row one longer than its table's.
            let text = Self.randomFactsFile(&random, broken: round % 4 == 3)
            let parsed = try OfflineEvaluation.parseFacts(Array(text.utf8))
            let policy = OfflineEvaluation.PolicySource(name: "a", text: "copy(x) :- t2(x, _)")
            let engine: Engine
            do {
                engine = try OfflineEvaluation.load(policies: [policy], facts: try OfflineEvaluation.readFacts(Array(text.utf8)))
            } catch {
                // The plain path must refuse it the same way.
                let plain = #expect(throws: PolicyError.self) { try Self.plainLoad(policy, parsed) }
                #expect(plain?.message == error.message, "seed \(seed) round \(round)")
                continue
            }
            try Self.plainLoad(policy, parsed)
            for (name, rows) in parsed {
                let table = TableID(service: "a", name: name)
                #expect(engine.rows(of: table) == Array(Set(rows)).sorted(by: rowPrecedes), "seed \(seed) round \(round) \(name)")
            }
            let tables = engine.tables
            let plain = tables.map { ($0, engine.rows(of: $0)) }
            for json in [true, false] {
                var bytes: [UInt8] = []
                OfflineEvaluation.write(tables, of: engine, json: json) { bytes += $0 }
                let expected = json ? OfflineEvaluation.json(plain) : OfflineEvaluation.text(plain)
                #expect(String(decoding: bytes, as: UTF8.self) == expected, "seed \(seed) round \(round) json \(json)")
            }
        }
    }

    /// Rows of one arity per table name (t0...t4 have arity 0...4; a name may
    /// come twice); when `broken`, one row is one longer, which loading must refuse.
    static func randomFactsFile(_ random: inout SeededRandom, broken: Bool) -> String {
        func value() -> String {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: "\(random.int64())"
            case 1: "\(Int.random(in: -3...3, using: &random))"
            case 2: ["1.0", "-0.5", "2.5e3", "3.0", "-3.0"].randomElement(using: &random)!
            default: JSON.string(random.trickyString()).text
            }
        }
        var tables: [String] = []
        for _ in 0..<Int.random(in: 1...5, using: &random) {
            let arity = Int.random(in: 0...4, using: &random)
            var rows = (0..<Int.random(in: 0...30, using: &random)).map { _ in (0..<arity).map { _ in value() } }
            if broken && tables.isEmpty && !rows.isEmpty { rows[Int.random(in: 0..<rows.count, using: &random)].append(value()) }
            tables.append("\"t\(arity)\": [" + rows.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: ",\n ") + "]")
        }
        return "{" + tables.joined(separator: ",\n") + "}"
    }

    /// Loading as `eval` did before `readFacts`: every row a `Transaction` insert.
    static func plainLoad(_ policy: OfflineEvaluation.PolicySource, _ facts: [(table: String, rows: [[Value]])]) throws {
        let engine = Engine()
        try engine.createPolicy(policy.name)
        var rules = Transaction()
        rules.insertRules(policy.text, policy: policy.name)
        try engine.load(rules)
        var transaction = Transaction()
        for (name, rows) in facts {
            let table = try OfflineEvaluation.tableID(name, defaultPolicy: policy.name)
            for row in rows { transaction.insert(row, into: table) }
        }
        try engine.load(transaction)
    }

    /// Rows given as values load as before: every list, a name given twice included.
    @Test func rowsGivenTwiceUnderOneNameAllLoad() throws {
        let policy = OfflineEvaluation.PolicySource(name: "a", text: "")
        let tables = try OfflineEvaluation.evaluate(policies: [policy], facts: [("t", [[1]]), ("u", [["x"]]), ("t", [[2], [1]])], tables: ["t"])
        #expect(tables.map(\.rows) == [[[1], [2]]])
        let fast = #expect(throws: PolicyError.self) {
            try OfflineEvaluation.load(policies: [policy], facts: [("t", [[1]]), ("t", [[2, 3]])])
        }
        let plain = #expect(throws: PolicyError.self) { try Self.plainLoad(policy, [("t", [[1]]), ("t", [[2, 3]])]) }
        #expect(fast?.message == plain?.message)
    }

    @Test func arityErrorsMatchTheEngines() throws {
        let policy = OfflineEvaluation.PolicySource(name: "a", text: "p(x) :- q(x, y)")
        for text in [#"{"q": [[1]]}"#, #"{"q": [[1, 2], [3]]}"#, #"{"r": [[1], [2, 3]]}"#, #"{"r": [[1]], "a:r": [[1, 2]]}"#] {
            let fast = #expect(throws: PolicyError.self) {
                try OfflineEvaluation.load(policies: [policy], facts: try OfflineEvaluation.readFacts(Array(text.utf8)))
            }
            let plain = #expect(throws: PolicyError.self) { try Self.plainLoad(policy, try OfflineEvaluation.parseFacts(Array(text.utf8))) }
            #expect(fast?.code == .arityMismatch, "\(text)")
            #expect(fast?.message == plain?.message, "\(text)")
        }
    }
}
