/// A join plan laid out for the executor's inner loop: fixed-size steps and one
/// block of integers, in memory the plan allocates itself.
///
/// Reading a `PlanStep` in the loop copied its payload out of the enum, which
/// retained and released its four arrays and the literal's table on every
/// step: with the closures around them, 29 % of a recursive evaluation (W4).
/// Reading a `Step` through `steps` is a plain load.
///
/// `Step.rows` holds the scanned table's store unretained: the plan belongs to
/// a `CompiledRule`, whose literals hold the tables (and a table's `rows` is a
/// `let`), so the store outlives the plan. The plan is kept across
/// transactions, so what it caches of a store must survive the store's
/// growth and compaction: the object never changes (only its arrays), and
/// `Step.index` is a position that `RowStore` keeps stable.
final class FlatPlan {
    struct Step {
        enum Kind: UInt8 {
            /// A positive literal: `PlanStep.scan`.
            case scan
            /// A negated literal: `PlanStep.absent`.
            case absent
            /// A builtin, comparison or binding: run from `original`.
            case other
        }

        var kind: Kind
        var literal: Int
        var rows: Unmanaged<RowStore>?
        /// `keyCount` key columns at `ints[keyStart...]`, then as many sources
        /// (a slot, or `-(id + 1)` for a constant id).
        var keyStart = 0
        var keyCount = 0
        /// Where this step's key values go in the executor's key buffer.
        var keyOffset = 0
        /// `bindCount` (column, slot) pairs at `ints[bindStart...]`, then `checkCount` more to check.
        var bindStart = 0
        var bindCount = 0
        var checkCount = 0
        /// The position of `rows`' secondary index on the key columns, found
        /// on first use (-1 before); stable for the store's life (`RowStore.compact`).
        var index = -1
    }

    let count: Int
    let steps: UnsafeMutablePointer<Step>
    let ints: UnsafeMutablePointer<Int>
    /// Key values over all steps: the size of the executor's key buffer.
    let keyWidth: Int
    /// The head's `headCount` arguments as key sources (slot, or `-(id + 1)`);
    /// nil when one is arithmetic.
    let head: UnsafeMutablePointer<Int>?
    let headCount: Int
    /// The plan it was made from, for the steps of kind `.other` (rare in hot loops).
    let original: [PlanStep]

    init(_ plan: [PlanStep], rule: CompiledRule) {
        original = plan
        count = plan.count
        steps = .allocate(capacity: max(plan.count, 1))
        var ints: [Int] = []
        var keyWidth = 0
        for (position, planStep) in plan.enumerated() {
            var step = Step(kind: .other, literal: -1, rows: nil)
            func key(_ columns: [Int], _ sources: [KeySource]) {
                step.keyStart = ints.count
                step.keyCount = columns.count
                step.keyOffset = keyWidth
                keyWidth += columns.count
                ints.append(contentsOf: columns)
                for source in sources {
                    switch source {
                    case .slot(let slot): ints.append(slot)
                    case .constant(let id): ints.append(-(Int(id) + 1))
                    }
                }
            }
            switch planStep {
            case .scan(let literal, let keyColumns, let sources, let binds, let checks):
                step.kind = .scan
                step.literal = literal
                step.rows = rule.literals[literal].table.map { Unmanaged.passUnretained($0.rows) }
                key(keyColumns, sources)
                step.bindStart = ints.count
                step.bindCount = binds.count
                step.checkCount = checks.count
                for pair in binds + checks { ints.append(contentsOf: [pair.column, pair.slot]) }
            case .absent(let literal, let keyColumns, let sources):
                step.kind = .absent
                step.literal = literal
                step.rows = rule.literals[literal].table.map { Unmanaged.passUnretained($0.rows) }
                key(keyColumns, sources)
            case .function(let literal, _), .compare(let literal):
                step.literal = literal
            case .bindEqual:
                break
            }
            (steps + position).initialize(to: step)
        }
        self.ints = .allocate(capacity: max(ints.count, 1))
        self.ints.initialize(from: ints, count: ints.count)
        self.keyWidth = keyWidth
        var head: [Int]? = []
        for argument in rule.headArguments {
            switch argument {
            case .variable(let slot): head?.append(slot)
            case .constant(let id): head?.append(-(Int(id) + 1))
            case .arithmetic: head = nil
            }
        }
        headCount = rule.headArguments.count
        if let head {
            self.head = .allocate(capacity: max(head.count, 1))
            self.head!.initialize(from: head, count: head.count)
        } else {
            self.head = nil
        }
    }

    deinit {
        steps.deinitialize(count: count)
        steps.deallocate()
        ints.deallocate()
        head?.deallocate()
    }
}
