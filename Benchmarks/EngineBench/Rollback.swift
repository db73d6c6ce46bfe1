// Roll-back: what refusing a transaction over its budget costs next to a
// large table. The transaction derives a little, runs out of its budget of
// derived rows and is rolled back; its time (thread CPU) is the forward work
// plus the roll-back. A roll-back that evaluated the touched strata again
// would cost the table's size; one that undoes what the transaction did costs
// the transaction's work.

import PolicyEngine

/// Times `samples` refused transactions made by `change(sample)` within `budget`
/// and checks the engine still answers `check` the same afterwards.
private func timeRefusals(
    _ engine: Engine, samples: Int, budget: TransactionBudget, check: () -> Int, change: (Int) -> Transaction
) throws -> [UInt64] {
    let expected = check()
    var times: [UInt64] = []
    for sample in 0..<samples {
        let transaction = change(sample)
        let start = cpuNow()
        var refused = false
        do { try engine.apply(transaction, budget: budget) } catch { refused = error.code == .tooExpensive }
        times.append(cpuNow() - start)
        precondition(refused, "the roll-back workload's transaction was not refused")
        precondition(check() == expected, "the refused transaction changed the engine")
    }
    return times.sorted()
}

func rollbackWorkload(n: Int, samples: Int) throws {
    // Counted: W1's program with N servers; 2,000 servers on a disallowed host
    // over a budget of 1,000 derived rows.
    let counted = try errorEngine()
    try load(counted, n: n, batch: 100_000)
    let countedTimes = try timeRefusals(
        counted, samples: samples, budget: TransactionBudget(derivedRows: 1_000), check: { counted.count(of: errorTable) }
    ) { sample in
        var transaction = Transaction()
        for i in 0..<2_000 { transaction.insert([.string("over-\(sample)-\(i)"), .string("nowhere")], into: servers) }
        return transaction
    }

    // Recursive: r holds a chain of N nodes reached from its start; a new
    // branch of 2,000 edges from the chain's head over a budget of 1,000.
    let recursive = Engine()
    try recursive.createPolicy("g")
    var setup = Transaction()
    setup.insertRules("r(x) :- start(x)\nr(y) :- r(x), next(x, y)\nstart(0).", policy: "g")
    try recursive.apply(setup)
    let next = TableID(service: "g", name: "next")
    let reached = TableID(service: "g", name: "r")
    var start = 0
    while start < n {
        var chunk = Transaction()
        for i in start..<min(start + 100_000, n) { chunk.insert([.int(Int64(i)), .int(Int64(i + 1))], into: next) }
        try recursive.apply(chunk)
        start += 100_000
    }
    let recursiveTimes = try timeRefusals(
        recursive, samples: samples, budget: TransactionBudget(derivedRows: 1_000), check: { recursive.count(of: reached) }
    ) { sample in
        var transaction = Transaction()
        let base = Int64(-1_000_000 * (sample + 1))
        transaction.insert([.int(0), .int(base)], into: next)
        for i in 0..<Int64(2_000) { transaction.insert([.int(base - i), .int(base - i - 1)], into: next) }
        return transaction
    }
    print(
        "Roll-back N=\(n): counted (2,000 rows over 1,000) p50 \(millis(percentile(countedTimes, 50))), "
            + "max \(millis(countedTimes.last ?? 0)); recursive (r of \(recursive.count(of: reached)) rows, a 2,000-edge branch "
            + "over 1,000) p50 \(millis(percentile(recursiveTimes, 50))), max \(millis(recursiveTimes.last ?? 0)); "
            + "\(samples) refusals each, thread CPU")
}
