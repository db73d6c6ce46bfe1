import Foundation
import Testing

@testable import PolicyEngine
import TestSupport

/// Issue 12: long engine work pauses for its owner (`Engine.pause`: a
/// node's loop sends heartbeats and reads its sockets there). A pause must
/// change nothing the engine computes, and a stop asked in a pause rolls
/// the transaction back whole.
@Suite struct EnginePauseTests {
    /// The counter, refused at its derived-rows budget: the hook is called
    /// while it runs, and the refusal is the one an engine without the hook gives.
    @Test func theCounterPausesAndIsRefusedAsWithoutPauses() throws {
        var calls = 0
        var outcomes: [String] = []
        for paused in [false, true] {
            let engine = Engine()
            try engine.createPolicy("c")
            var setup = Transaction()
            setup.insert([0], into: TableID("c:n")!)
            try engine.apply(setup)
            if paused {
                engine.pause = {
                    calls += 1
                    return true
                }
            }
            var counter = Transaction()
            counter.insertRules("n(y) :- n(x), y = x + 1", policy: "c")
            let error = #expect(throws: PolicyError.self) { try engine.apply(counter, budget: TransactionBudget(derivedRows: 50_000)) }
            outcomes.append("\(error?.code.rawValue ?? "none"): \(error?.message ?? "")")
            #expect(engine.rows(of: TableID("c:n")!) == [[0]])
        }
        print("EnginePauseTests: the counter paused \(calls) times")
        #expect(calls > 0, "50,000 rounds never paused")
        #expect(outcomes[0] == outcomes[1])
        #expect(outcomes[0].hasPrefix("too-expensive"))
    }

    /// Random recursive programs and changes, some over a budget of derived
    /// rows or computed bytes, applied to an engine that pauses every few
    /// rows and to one that never pauses. Without a stop, both give the same
    /// deltas or the same refusal and hold the same rows; a stop asked in a
    /// pause refuses the change (`too-expensive`) and leaves every table as
    /// it was, and the engines go on alike with the next change.
    @Test func pausesChangeNothingAndAStopRollsBackWhole() throws {
        let seed = ProcessInfo.processInfo.environment["POLICY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("EnginePauseTests seed: \(seed) (rerun with POLICY_SEED=\(seed))")
        var random = SeededRandom(seed: seed)
        var tally = Tally()
        for program in [EnginePropertyTests.graph, EnginePropertyTests.pointsTo, EnginePropertyTests.graph, EnginePropertyTests.pointsTo] {
            try run(program, &random, transactions: 120, tally: &tally)
        }
        print("EnginePauseTests: \(tally)")
        #expect(tally.pauses > 0)
        #expect(tally.stopped >= 10, "too few stops to test their roll-back")
        #expect(tally.alike >= 100, "too few changes applied alike")
        #expect(tally.refusedAlike >= 10, "too few refusals over a budget")
    }

    /// A hash index that doubles moves every row in one insert (a quarter
    /// of a second at a million rows, debug): it pauses every
    /// `rowsPerPause` rows it moves, the primary index and a secondary one,
    /// and the store finds the same rows as one that never pauses.
    @Test func anIndexGrowingPausesAsItMovesRows() {
        let pauses = LongWorkPauses()
        let (paused, plain) = (RowStore(arity: 2, pausing: pauses), RowStore(arity: 2))
        // Pauses by the store's row count when they came: a growth's all come within one insert.
        var pausesAt: [Int: Int] = [:]
        pauses.hook = {
            pausesAt[paused.count, default: 0] += 1
            return true
        }
        pauses.begin()
        let rows = 100_000
        for n in 0..<rows {
            let row: [UInt32] = [UInt32(n % 1000), UInt32(n)]
            if n == rows / 2 {
                // The secondary index on column 0 is built here, then grows with the rest.
                for store in [paused, plain] { store.forEach(columns: [0], key: [7]) { _ in true } }
            }
            paused.insert(row)
            plain.insert(row)
        }
        // The primary index doubled at 91,751 rows (70 % of 131,072 buckets),
        // moving each of them: 89 pauses of 1,024 rows, at least.
        let longest = pausesAt.values.max() ?? 0
        #expect(longest >= 89, "\(pausesAt.count) inserts paused, at most \(longest) times")
        // Seven growths of the primary index move 1,024 rows or more, and the secondary index is built.
        #expect(pausesAt.count >= 8, "too few growths paused: \(pausesAt.keys.sorted())")
        #expect(paused.contents() == plain.contents())
    }

    /// The value pool's table, doubling, moves every value: it pauses
    /// every `rowsPerPause` values too, and every value keeps its id.
    @Test func theValuePoolGrowingPausesAsItMovesValues() {
        let (paused, plain) = (ValuePool(), ValuePool())
        paused.pauses = LongWorkPauses()
        var pausesAt: [Int: Int] = [:]
        paused.pauses?.hook = {
            pausesAt[paused.count, default: 0] += 1
            return true
        }
        paused.pauses?.begin()
        for n in 0..<100_000 {
            let value = Value.string("v\(n)")
            #expect(paused.intern(value) == plain.intern(value))
        }
        // The table doubled at 98,304 values (3/4 of 131,072 slots): 96 pauses of 1,024, at least.
        let longest = pausesAt.values.max() ?? 0
        #expect(longest >= 96, "\(pausesAt.count) growths paused, at most \(longest) times")
    }

    struct Tally: CustomStringConvertible {
        var pauses = 0
        var stopped = 0
        var alike = 0
        var refusedAlike = 0
        var description: String { "\(pauses) pauses, \(stopped) stopped, \(alike) applied alike, \(refusedAlike) of them refused alike" }
    }

    /// What `pausesChangeNothingAndAStopRollsBackWhole` asks of one program.
    private func run(_ program: EnginePropertyTests.RecursiveProgram, _ random: inout SeededRandom, transactions: Int, tally: inout Tally) throws {
        let (paused, plain) = (Engine(), Engine())
        let growth = EngineRollbackTests.growth(program.policy)
        let nodes = Int.random(in: 4...12, using: &random)
        func node(_ random: inout SeededRandom) -> Value { .int(Int64(Int.random(in: 0..<nodes, using: &random))) }
        var setup = Transaction()
        for rule in program.rules where Int.random(in: 0..<4, using: &random) > 0 { setup.insert(rule: rule) }
        setup.insert(["a"], into: growth.head)
        for each in [paused, plain] {
            try each.createPolicy(program.policy)
            try each.apply(setup)
        }
        // The hook stops the change at its `stopAt`th call, when set.
        var calls = 0
        var stopAt: Int?
        paused.pause = {
            calls += 1
            return calls != stopAt
        }
        defer { paused.pause = nil }

        for step in 0..<transactions {
            var transaction = Transaction()
            // Only a budget ends the growth rule.
            let growing = Int.random(in: 0..<4, using: &random) == 0
            if growing { transaction.insert(rule: growth) }
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                if Int.random(in: 0..<8, using: &random) == 0 {
                    let rule = program.rules.randomElement(using: &random)!
                    if (try paused.rules(in: program.policy)).contains(rule.text) {
                        transaction.deleteRule(policy: program.policy, text: rule.text)
                    } else {
                        transaction.insert(rule: rule)
                    }
                    continue
                }
                let (name, arity) = program.factTables[Int.random(in: 0..<program.baseTables, using: &random)]
                let row = (0..<arity).map { _ in node(&random) }
                if Bool.random(using: &random) { transaction.insert(row, into: RuleBuilder.table(name)) } else { transaction.delete(row, from: RuleBuilder.table(name)) }
            }
            var budget = TransactionBudget.unlimited
            switch Int.random(in: 0..<(growing ? 2 : 4), using: &random) {
            case 0: budget.derivedRows = Int.random(in: 0..<60, using: &random)
            case 1: budget.computedBytes = Int.random(in: 0..<600, using: &random)
            default: break
            }
            paused.executor.ticksPerClockRead = Int.random(in: 1...20, using: &random)
            paused.pauses.rowsPerPause = Int.random(in: 1...8, using: &random)
            calls = 0
            stopAt = Int.random(in: 0..<4, using: &random) == 0 ? Int.random(in: 1...6, using: &random) : nil

            let before = EngineRollbackTests.contents(paused)
            let pool = paused.pool.count
            let pausedOutcome = Self.outcome { () throws(PolicyError) in try paused.apply(transaction, budget: budget) }
            tally.pauses += calls
            if case .refused(let error) = pausedOutcome, error.message.contains("asked to stop") {
                tally.stopped += 1
                #expect(error.code == .tooExpensive)
                let differences = EngineRollbackTests.differences(before, EngineRollbackTests.contents(paused))
                #expect(differences.isEmpty, "\(program.policy) step \(step): a stopped change left \(differences.prefix(2))")
                #expect(paused.pool.count == pool)
                #expect(EngineRollbackTests.indexProblems(paused).isEmpty)
                if !differences.isEmpty { return }
                continue
            }
            let plainOutcome = Self.outcome { () throws(PolicyError) in try plain.apply(transaction, budget: budget) }
            #expect(pausedOutcome == plainOutcome, "\(program.policy) step \(step) (stop at \(String(describing: stopAt)), \(calls) pauses)")
            tally.alike += 1
            if case .refused = plainOutcome { tally.refusedAlike += 1 }
            for table in plain.tables {
                #expect(paused.rows(of: table) == plain.rows(of: table), "\(program.policy) step \(step): \(table) differs")
            }
            #expect(paused.pool.count == plain.pool.count)
            if pausedOutcome != plainOutcome { return }
        }
    }

    enum Outcome: Equatable {
        case applied([TableDelta])
        case refused(PolicyError)

        static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            switch (lhs, rhs) {
            case (.applied(let a), .applied(let b)): a.map { $0.sorted() } == b.map { $0.sorted() }
            case (.refused(let a), .refused(let b)): a.code == b.code && a.message == b.message
            default: false
            }
        }
    }

    static func outcome(_ body: () throws(PolicyError) -> [TableDelta]) -> Outcome {
        do {
            return .applied(try body())
        } catch {
            return .refused(error)
        }
    }
}
