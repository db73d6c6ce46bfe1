import PolicyEngine
@testable import PolicyStore
import Testing
import TestSupport

@Suite struct CompactionTests {
    /// What replaying records builds, with set semantics for rules and facts.
    /// `policies` are those the records create (the others come from the command line).
    struct Model: Equatable {
        var policies: Set<String> = []
        var rules: [String: [String]] = [:]
        var facts: [String: Set<[Value]>] = [:]

        init(_ records: [LogRecord]) {
            for record in records {
                switch record {
                case .createPolicy(let name):
                    policies.insert(name)
                case .deletePolicy(let name):
                    policies.remove(name)
                    rules[name] = nil
                    facts = facts.filter { !$0.key.hasPrefix(name + ":") }
                case .insertRules(let policy, let text):
                    rules[policy, default: []].append(text)
                case .deleteRules(let policy, let text):
                    if let index = rules[policy]?.lastIndex(where: { sameScalars($0, text) }) { rules[policy]?.remove(at: index) }
                case .insertFacts(let table, let rows):
                    facts[table, default: []].formUnion(rows)
                case .deleteFacts(let table, let rows):
                    facts[table]?.subtract(rows)
                }
            }
            facts = facts.filter { !$0.value.isEmpty }
            rules = rules.filter { !$0.value.isEmpty }
        }
    }

    @Test func cancelledInsertsDisappear() {
        let records: [LogRecord] = [
            .createPolicy(name: "a"),
            .insertRules(policy: "a", text: "p(x) :- q(x)"),
            .insertFacts(table: "a:q", rows: [[.int(1)], [.int(2)]]),
            .deleteFacts(table: "a:q", rows: [[.int(1)]]),
            .deleteRules(policy: "a", text: "p(x) :- q(x)"),
            .insertFacts(table: "a:r", rows: [[.int(1)]]),
            .deleteFacts(table: "a:r", rows: [[.int(1)]]),
        ]
        #expect(LogRecord.compacted(records) == [.createPolicy(name: "a"), .insertFacts(table: "a:q", rows: [[.int(2)]])])
    }

    @Test func deleteMatchingNoInsertKeepsThatPolicysRuleHistory() {
        let records: [LogRecord] = [
            .insertRules(policy: "a", text: "p(x) :- q(x)  r(x) :- q(x)"),
            .deleteRules(policy: "a", text: "r(x) :- q(x)"),
            .insertRules(policy: "b", text: "s(1)"),
        ]
        #expect(
            LogRecord.compacted(records) == [records[0], records[1], records[2]], "no createPolicy for command-line policies")
    }

    /// A deletion drops what came before it, and stays: the command line may
    /// load the policy again at the next start.
    @Test func aDeletedPolicyKeepsOnlyItsDeletionAndWhatCameAfter() {
        let records: [LogRecord] = [
            .createPolicy(name: "a"),
            .insertRules(policy: "a", text: "p(x) :- q(x)"),
            .insertFacts(table: "a:q", rows: [[.int(1)]]),
            .insertFacts(table: "b:q", rows: [[.int(1)]]),
            .insertRules(policy: "c", text: "r(1)"),
            .deleteRules(policy: "c", text: "r(1) r(2)"),
            .deletePolicy(name: "a"),
            .deletePolicy(name: "c"),
            .createPolicy(name: "a"),
            .insertFacts(table: "a:q", rows: [[.int(2)]]),
            .insertRules(policy: "c", text: "r(3)"),
        ]
        #expect(
            LogRecord.compacted(records) == [
                .deletePolicy(name: "a"), .deletePolicy(name: "c"), .createPolicy(name: "a"), .insertRules(policy: "c", text: "r(3)"),
                .insertFacts(table: "b:q", rows: [[.int(1)]]), .insertFacts(table: "a:q", rows: [[.int(2)]]),
            ])
    }

    @Test func randomHistoriesCompactToTheSameState() {
        let seed = propertyTestSeed()
        print("CompactionTests.randomHistoriesCompactToTheSameState seed: \(seed)")
        var random = SeededRandom(seed: seed)
        for round in 0..<200 {
            var records: [LogRecord] = []
            for _ in 0..<Int.random(in: 0..<40, using: &random) {
                let policy = ["a", "b", "c"].randomElement(using: &random)!
                let text = ["p(1)", "p(2)", "q(x) :- p(x)"].randomElement(using: &random)!
                let rows = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    [Value.int(Int64.random(in: 0..<4, using: &random))]
                }
                switch Int.random(in: 0..<6, using: &random) {
                case 0: records.append(.createPolicy(name: policy))
                case 5: records.append(.deletePolicy(name: policy))
                case 1: records.append(.insertRules(policy: policy, text: text))
                case 2: records.append(.deleteRules(policy: policy, text: text))
                case 3: records.append(.insertFacts(table: policy + ":t", rows: rows))
                default: records.append(.deleteFacts(table: policy + ":t", rows: rows))
                }
            }
            let compacted = LogRecord.compacted(records)
            #expect(Model(compacted) == Model(records), "seed \(seed) round \(round)")
            #expect(compacted.count <= records.count, "seed \(seed) round \(round)")
        }
    }

    /// Issue 14: rule texts match by Unicode scalars. Deleting the rule with
    /// `"e\u{301}"` does not cancel the insert of the one with `"\u{E9}"`.
    @Test func aDeleteCancelsOnlyTheRuleWithTheSameScalars() {
        let composed = #"h(x) :- p(x), x = "\#u{E9}""#
        let decomposed = #"h(x) :- p(x), x = "e\#u{301}""#
        let records: [LogRecord] = [
            .createPolicy(name: "a"), .insertRules(policy: "a", text: composed), .insertRules(policy: "a", text: decomposed),
            .deleteRules(policy: "a", text: decomposed),
        ]
        let compacted = LogRecord.compacted(records)
        #expect(compacted.count == 2)
        guard case .insertRules(_, let kept)? = compacted.last else {
            Issue.record("\(compacted)")
            return
        }
        #expect(sameScalars(kept, composed), "\(compacted)")
    }

    @Test func compactRewritesTheLogDurably() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            var records: [LogRecord] = [.createPolicy(name: "a")]
            for value in 0..<50 {
                records.append(.insertFacts(table: "a:t", rows: [[.int(Int64(value))]]))
                records.append(.deleteFacts(table: "a:t", rows: [[.int(Int64(value))]]))
            }
            records.append(.insertFacts(table: "a:t", rows: [[.int(7)]]))
            try log.append(records)
            let before = log.byteCount
            let counts = try log.compact()
            #expect(counts.before == records.count)
            #expect(counts.after == 2)
            #expect(log.byteCount < before)
            try log.append(.insertRules(policy: "a", text: "p(x) :- t(x)"))
            log.close()

            let reopened = try DurableLog(directory: dir)
            defer { reopened.close() }
            let replay = try reopened.replay()
            #expect(replay.warnings.isEmpty)
            #expect(
                replay.records == [
                    .createPolicy(name: "a"), .insertFacts(table: "a:t", rows: [[.int(7)]]),
                    .insertRules(policy: "a", text: "p(x) :- t(x)"),
                ])
        }
    }
}

extension CompactionTests {
    @Test func compactsOnlyWhenLargeAndMostlyGarbage() throws {
        try withTemporaryDirectory { dir in
            let log = try DurableLog(directory: dir)
            defer { log.close() }
            let churn: [LogRecord] = (0..<100).flatMap { value -> [LogRecord] in
                let row: [[Value]] = [[.int(Int64(value))]]
                return [.insertFacts(table: "a:t", rows: row), .deleteFacts(table: "a:t", rows: row)]
            }
            try log.append([.createPolicy(name: "a")] + churn)
            #expect(try log.compactIfWorthwhile(minimumBytes: log.byteCount + 1) == nil, "too small")

            let result = try #require(try log.compactIfWorthwhile(minimumBytes: 0))
            #expect(result.before == 201 && result.after == 1)
            #expect(try log.replay().records == [.createPolicy(name: "a")])

            let kept: [LogRecord] = (0..<10).map { .insertFacts(table: "a:t\($0)", rows: [[.int(Int64($0))]]) }
            try log.append(kept)
            #expect(try log.compactIfWorthwhile(minimumBytes: 0) == nil, "nothing to drop")
            #expect(log.recordCount == 11)
        }
    }
}

