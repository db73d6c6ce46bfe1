/// Runs a `PolicyTest` in a fresh engine.
public enum PolicyTestRunner {
    /// Loads the policies and facts, checks the expectations, then applies
    /// each step and checks its expectations. An error stops the test.
    public static func run(_ test: PolicyTest) -> PolicyTestResult {
        var result = PolicyTestResult(name: test.name)
        do throws(PolicyError) {
            let engine = try OfflineEvaluation.load(policies: test.policies, facts: test.facts, schemas: test.schemas)
            let defaultPolicy = test.policies.first?.name
            result.failures += try check(test.expectations, step: 0, in: engine, defaultPolicy: defaultPolicy)
            for (index, step) in test.steps.enumerated() {
                var transaction = Transaction()
                for (name, rows) in step.delete {
                    let table = try OfflineEvaluation.tableID(name, defaultPolicy: defaultPolicy)
                    for row in rows { transaction.delete(row, from: table) }
                }
                for (name, rows) in step.insert {
                    let table = try OfflineEvaluation.tableID(name, defaultPolicy: defaultPolicy)
                    for row in rows { transaction.insert(row, into: table) }
                }
                try engine.apply(transaction)
                result.failures += try check(step.expectations, step: index + 1, in: engine, defaultPolicy: defaultPolicy)
            }
        } catch {
            result.error = error
        }
        return result
    }

    private static func check(
        _ expectations: [PolicyTest.Expectation], step: Int, in engine: Engine, defaultPolicy: String?
    ) throws(PolicyError) -> [PolicyTestResult.Failure] {
        var failures: [PolicyTestResult.Failure] = []
        for expectation in expectations {
            let table = try OfflineEvaluation.tableID(expectation.table, defaultPolicy: defaultPolicy)
            guard engine.contains(table) else {
                throw PolicyError(.unknownTable, "no table \(table): no rule, fact or schema defines it (test '\(expectation.table)')")
            }
            let rows = engine.rows(of: table)
            let actual = Set(rows)
            var added = expectation.excludes.filter(actual.contains)
            var missing = expectation.contains.filter { !actual.contains($0) }
            if let exact = expectation.exact {
                let expected = Set(exact)
                added += rows.filter { !expected.contains($0) }
                missing += exact.filter { !actual.contains($0) }
            }
            if !added.isEmpty || !missing.isEmpty {
                failures.append(.init(step: step, table: table, added: unique(added), missing: unique(missing)))
            }
        }
        return failures
    }

    /// Sorted, each row once.
    private static func unique(_ rows: [[Value]]) -> [[Value]] {
        Set(rows).sorted { $0.lexicographicallyPrecedes($1) }
    }
}
