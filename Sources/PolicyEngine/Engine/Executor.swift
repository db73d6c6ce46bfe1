/// Runs join plans: nested index lookups over interned rows.
///
/// One executor is reused for every evaluation; `bindings` holds the current
/// value id of each rule variable (`unbound` when not yet bound).
///
/// The per-derivation state is `@exclusivity(unchecked)`, as in `RowStore` and
/// for the same reason: one thread, and only plain element reads and writes
/// (the run-time checks cost about a tenth of a recursive evaluation).
final class Executor {
    static let unbound = UInt32.max

    let pool: ValuePool
    @exclusivity(unchecked) private var bindings: [UInt32] = []
    @exclusivity(unchecked) private var views: [View] = []
    @exclusivity(unchecked) private var steps: [PlanStep] = []
    private var rule: CompiledRule!
    private var emit: ([UInt32]) -> Bool = Executor.ignore
    @exclusivity(unchecked) private var stopped = false
    @exclusivity(unchecked) private var keyBuffers: [[UInt32]] = []
    /// The head row being emitted, reused: a callback that only reads it costs
    /// no allocation (one that keeps it makes the next emit copy on write).
    @exclusivity(unchecked) private var headRow: [UInt32] = []
    /// Per literal, the id of the row its scan matched in the derivation being
    /// emitted (in the store its view read: `rows` for `.current`).
    @exclusivity(unchecked) private var matched: [UInt32] = []
    /// What the running transaction may still derive (`arm(_:)`); `.max` when unbounded.
    @exclusivity(unchecked) private var derivationsLeft = Int.max
    @exclusivity(unchecked) private var bytesLeft = Int.max
    /// Rows to scan before the clock is read again, and when time runs out.
    @exclusivity(unchecked) private var ticksUntilClock = Int.max
    private var deadline: ContinuousClock.Instant?
    private static let ticksPerClockRead = 4096
    /// Set once the budget is spent: every run then returns at once, so the
    /// maintenance under way ends quickly, and the engine rolls it back.
    @exclusivity(unchecked) private(set) var exhausted: TransactionBudget.Resource?

    init(pool: ValuePool) {
        self.pool = pool
    }

    // MARK: - Budget

    /// Bounds the runs until `disarm()` by `budget`.
    func arm(_ budget: TransactionBudget) {
        derivationsLeft = budget.derivedRows
        bytesLeft = budget.computedBytes
        exhausted = nil
        guard budget.milliseconds < TransactionBudget.unlimited.milliseconds else { return }
        // At most a year: a bigger Duration would overflow.
        deadline = ContinuousClock.now + .milliseconds(min(budget.milliseconds, 365 * 86_400_000))
        ticksUntilClock = Self.ticksPerClockRead
    }

    /// Lifts the bound. - Returns: what ran out since `arm(_:)`, if anything.
    func disarm() -> TransactionBudget.Resource? {
        defer {
            derivationsLeft = .max
            bytesLeft = .max
            ticksUntilClock = .max
            deadline = nil
            exhausted = nil
        }
        return exhausted
    }

    private func exhaust(_ resource: TransactionBudget.Resource) {
        exhausted = resource
        stopped = true
    }

    /// Counts one row scanned or derived; reads the clock every
    /// `ticksPerClockRead`. - Returns: false once time has run out.
    @inline(__always)
    private func tick() -> Bool {
        ticksUntilClock -= 1
        return ticksUntilClock > 0 || clockAllows()
    }

    private func clockAllows() -> Bool {
        ticksUntilClock = Self.ticksPerClockRead
        guard let deadline, ContinuousClock.now >= deadline else { return true }
        exhaust(.time)
        return false
    }

    // MARK: - Entry points

    /// Evaluates `rule` with the given seed already bound by `seedBind`, emitting each derived head row.
    /// `emit` returns false to stop early. Literal `i` reads `views[i]`.
    func run(
        _ rule: CompiledRule, seed: Int, views: [View], seedBind: (inout [UInt32]) -> Bool,
        emit: ([UInt32]) -> Bool
    ) {
        run(rule, seed: seed, views: views, seeds: CollectionOfOne(0), seedBind: { bindings, _ in seedBind(&bindings) }, emit: emit)
    }

    /// Runs `rule` once per element of `seeds`, each bound by `seedBind`: a
    /// bulk change seeds a rule with every changed row, and the plan and the
    /// executor's state are set up once for all of them.
    func run<Seeds: Sequence<UInt32>>(
        _ rule: CompiledRule, seed: Int, views: [View], seeds: Seeds, seedBind: (inout [UInt32], UInt32) -> Bool,
        emit: ([UInt32]) -> Bool
    ) {
        guard exhausted == nil, let plan = try? rule.plan(seed: seed) else { return }
        self.rule = rule
        self.views = views
        self.steps = plan
        let variables = rule.slotCount
        if bindings.count != variables { bindings = [UInt32](repeating: Executor.unbound, count: variables) }
        if keyBuffers.count < plan.count { keyBuffers = Array(repeating: [], count: plan.count) }
        if matched.count < rule.literals.count { matched = [UInt32](repeating: Executor.unbound, count: rule.literals.count) }
        // The closure is only stored for the duration of this call.
        withoutActuallyEscaping(emit) { emit in
            self.emit = emit
            for row in seeds where exhausted == nil {
                stopped = false
                for slot in 0..<variables { bindings[slot] = Executor.unbound }
                if seedBind(&bindings, row) { step(0) }
            }
            self.emit = Executor.ignore
        }
        self.rule = nil
    }

    /// The value bound to `slot`, for `emit` callbacks that read a derivation's body.
    @inline(__always)
    func value(of slot: Int) -> UInt32 { bindings[slot] }

    /// The id of the row that the scan of positive literal `literal` matched in
    /// the derivation being emitted (not set for the seed literal).
    @inline(__always)
    func matchedRow(_ literal: Int) -> UInt32 { matched[literal] }

    private static let ignore: @Sendable ([UInt32]) -> Bool = { _ in true }

    /// Binds the variables of a table literal from a row; false when the row does not match.
    static func bind(_ patterns: [SlotPattern], store: RowStore, row: UInt32, into bindings: inout [UInt32]) -> Bool {
        for (column, pattern) in patterns.enumerated() where !bind(pattern, to: store.cell(row, column), into: &bindings) {
            return false
        }
        return true
    }

    /// Binds one column: a constant must match, an unbound variable takes the
    /// value, a bound one must equal it.
    @inline(__always)
    static func bind(_ pattern: SlotPattern, to value: UInt32, into bindings: inout [UInt32]) -> Bool {
        switch pattern {
        case .constant(let id):
            return id == value
        case .variable(let slot):
            if bindings[slot] == unbound { bindings[slot] = value }
            return bindings[slot] == value
        case .wildcard:
            return true
        }
    }

    /// Binds the head's plain variables from a head row; false when its constants differ.
    static func bindHead(_ arguments: [SlotExpression], row: [UInt32], into bindings: inout [UInt32]) -> Bool {
        for (column, argument) in arguments.enumerated() {
            switch argument {
            case .variable(let slot):
                if bindings[slot] == unbound {
                    bindings[slot] = row[column]
                } else if bindings[slot] != row[column] {
                    return false
                }
            case .constant(let id):
                if id != row[column] { return false }
            case .arithmetic:
                continue
            }
        }
        return true
    }

    // MARK: - Steps

    private func step(_ index: Int) {
        if stopped { return }
        guard index < steps.count else {
            emitHead()
            return
        }
        switch steps[index] {
        case .scan(let literal, let keyColumns, let key, let binds, let checks):
            guard let table = rule.literals[literal].table else { return }
            fillKey(index, key)
            let view = views[literal]
            table.forEach(view, columns: keyColumns, key: keyBuffers[index]) { store, row in
                guard tick() else { return false }
                for bind in binds { bindings[bind.slot] = store.cell(row, bind.column) }
                for check in checks where bindings[check.slot] != store.cell(row, check.column) { return true }
                matched[literal] = row
                step(index + 1)
                return !stopped
            }
            for bind in binds { bindings[bind.slot] = Executor.unbound }
        case .absent(let literal, let keyColumns, let key):
            guard let table = rule.literals[literal].table else { return }
            fillKey(index, key)
            if !table.exists(views[literal], columns: keyColumns, key: keyBuffers[index]) { step(index + 1) }
        case .function(let literal, let bind):
            guard case .function(let builtin, let inputs, let output) = rule.literals[literal] else { return }
            var values: [Value] = []
            values.reserveCapacity(inputs.count)
            for input in inputs {
                guard let value = evaluate(input) else { return }
                values.append(value)
            }
            guard let result = BuiltinEvaluation.call(builtin, values) else { return }
            if case .string(let text) = result {
                bytesLeft -= text.utf8.count
                if bytesLeft < 0 { return exhaust(.computedBytes) }
            }
            if let bind {
                bindings[bind] = pool.intern(result)
                step(index + 1)
                bindings[bind] = Executor.unbound
                return
            }
            switch output {
            case .wildcard: break
            case .constant(let id): guard BuiltinEvaluation.compare(.equal, result, pool[id]) else { return }
            case .variable(let slot): guard BuiltinEvaluation.compare(.equal, result, pool[bindings[slot]]) else { return }
            }
            step(index + 1)
        case .compare(let literal):
            guard case .comparison(let op, let lhs, let rhs) = rule.literals[literal],
                let left = evaluate(lhs), let right = evaluate(rhs), BuiltinEvaluation.compare(op, left, right)
            else { return }
            step(index + 1)
        case .bindEqual(let slot, let expression):
            guard let id = evaluateID(expression) else { return }
            bindings[slot] = id
            step(index + 1)
            bindings[slot] = Executor.unbound
        }
    }

    @inline(__always)
    private func fillKey(_ index: Int, _ key: [KeySource]) {
        if keyBuffers[index].count != key.count { keyBuffers[index] = [UInt32](repeating: 0, count: key.count) }
        for (position, source) in key.enumerated() {
            switch source {
            case .slot(let slot): keyBuffers[index][position] = bindings[slot]
            case .constant(let id): keyBuffers[index][position] = id
            }
        }
    }

    private func emitHead() {
        derivationsLeft -= 1
        if derivationsLeft < 0 { return exhaust(.derivedRows) }
        guard tick() else { return }
        let arguments = rule.headArguments
        if headRow.count != arguments.count { headRow = [UInt32](repeating: 0, count: arguments.count) }
        for (column, argument) in arguments.enumerated() {
            guard let id = evaluateID(argument) else { return }
            headRow[column] = id
        }
        if !emit(headRow) { stopped = true }
    }

    private func evaluateID(_ expression: SlotExpression) -> UInt32? {
        switch expression {
        case .variable(let slot): return bindings[slot]
        case .constant(let id): return id
        case .arithmetic:
            guard let value = evaluate(expression) else { return nil }
            return pool.intern(value)
        }
    }

    private func evaluate(_ expression: SlotExpression) -> Value? {
        switch expression {
        case .variable(let slot): return pool[bindings[slot]]
        case .constant(let id): return pool[id]
        case .arithmetic(let op, let lhs, let rhs):
            guard let left = evaluate(lhs), let right = evaluate(rhs) else { return nil }
            return BuiltinEvaluation.arithmetic(op, left, right)
        }
    }
}
