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
    /// The owner's pauses, taken when the clock is read (`LongWorkPauses`).
    let pauses: LongWorkPauses
    /// What `seedBind` writes into; copied to `slots` before the steps run.
    @exclusivity(unchecked) private var bindings: [UInt32] = []
    @exclusivity(unchecked) private var views: [View] = []
    @exclusivity(unchecked) private var plan: FlatPlan!
    private var rule: CompiledRule!
    /// The hot loop's state in memory the executor allocates itself (plain
    /// loads and stores; arrays would check uniqueness on every write).
    /// `slots`: the value bound to each rule variable; `keys`: each step's
    /// lookup key (`FlatPlan.Step.keyOffset`); `matched`: see `matchedRow`;
    /// `current`: whether literal `i` reads the `.current` view. Grown in `run`.
    @exclusivity(unchecked) private var slots = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    @exclusivity(unchecked) private var slotCapacity = 1
    @exclusivity(unchecked) private var keys = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    @exclusivity(unchecked) private var keyCapacity = 1
    @exclusivity(unchecked) private var matched = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    @exclusivity(unchecked) private var current = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
    @exclusivity(unchecked) private var literalCapacity = 1
    private var emit: ([UInt32]) -> Bool = Executor.ignore
    @exclusivity(unchecked) private var stopped = false
    @exclusivity(unchecked) private var keyBuffers: [[UInt32]] = []
    /// The head row being emitted, reused: a callback that only reads it costs
    /// no allocation (one that keeps it makes the next emit copy on write).
    @exclusivity(unchecked) private var headRow: [UInt32] = []
    /// What the running transaction may still derive (`arm(_:)`); `.max` when unbounded.
    @exclusivity(unchecked) private var derivationsLeft = Int.max
    @exclusivity(unchecked) private var bytesLeft = Int.max
    /// Rows to scan before the clock is read again, and when time runs out.
    @exclusivity(unchecked) private var ticksUntilClock = Int.max
    private var deadline: ContinuousClock.Instant?
    private var armed = false
    /// Rows between clock reads (tests run out of time after a few rows with 1).
    var ticksPerClockRead = 4096
    /// Set once the budget is spent: every run then returns at once, so the
    /// maintenance under way ends quickly, and the engine rolls it back.
    @exclusivity(unchecked) private(set) var exhausted: TransactionBudget.Resource?

    init(pool: ValuePool, pauses: LongWorkPauses) {
        self.pool = pool
        self.pauses = pauses
    }

    deinit {
        slots.deallocate()
        keys.deallocate()
        matched.deallocate()
        current.deallocate()
    }

    /// Makes the buffers big enough for `rule` and `plan`.
    private func reserve(_ rule: CompiledRule, _ plan: FlatPlan) {
        if slotCapacity < rule.slotCount {
            slots.deallocate()
            slotCapacity = rule.slotCount
            slots = .allocate(capacity: slotCapacity)
        }
        if keyCapacity < plan.keyWidth {
            keys.deallocate()
            keyCapacity = plan.keyWidth
            keys = .allocate(capacity: keyCapacity)
        }
        if literalCapacity < rule.literals.count {
            matched.deallocate()
            current.deallocate()
            literalCapacity = rule.literals.count
            matched = .allocate(capacity: literalCapacity)
            current = .allocate(capacity: literalCapacity)
        }
    }

    // MARK: - Budget

    /// Bounds the runs until `disarm()` by `budget`.
    func arm(_ budget: TransactionBudget) {
        assert(!armed, "the executor is armed already: one bound at a time")
        armed = true
        derivationsLeft = budget.derivedRows
        bytesLeft = budget.computedBytes
        exhausted = nil
        // Asked to stop before the joins began (while the rows were stored).
        if pauses.stopRequested { exhaust(.stopped) }
        // Trusted work has no deadline, but it pauses as often.
        if pauses.hook != nil { ticksUntilClock = ticksPerClockRead }
        guard budget.milliseconds < TransactionBudget.unlimited.milliseconds else { return }
        // At most a year: a bigger Duration would overflow.
        deadline = ContinuousClock.now + .milliseconds(min(budget.milliseconds, 365 * 86_400_000))
        ticksUntilClock = ticksPerClockRead
    }

    /// Lifts the bound. - Returns: what ran out since `arm(_:)`, if anything.
    func disarm() -> TransactionBudget.Resource? {
        defer {
            armed = false
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

    /// Counts one row scanned or derived; reads the clock (and pauses for
    /// the owner) every `ticksPerClockRead`. - Returns: false once time has
    /// run out or the owner asked to stop.
    @inline(__always)
    private func tick() -> Bool {
        ticksUntilClock -= 1
        return ticksUntilClock > 0 || clockAllows()
    }

    /// Reads the clock (and pauses) now, while armed: for loops whose
    /// steps cost more than the rows they tick, such as rounds of one row.
    func readClock() {
        if armed && exhausted == nil { _ = clockAllows() }
    }

    private func clockAllows() -> Bool {
        ticksUntilClock = ticksPerClockRead
        guard pauses.pause() else {
            exhaust(.stopped)
            return false
        }
        guard let deadline, ContinuousClock.now >= deadline else { return true }
        exhaust(.time)
        return false
    }

    // MARK: - Entry points

    /// Evaluates `rule` with the given seed already bound by `seedBind`, emitting each derived head row.
    /// `emit` returns false to stop early; it must not change a table the
    /// rule reads, nor run the executor. Literal `i` reads `views[i]`.
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
        // Not reentrant: the buffers below are reallocated here and read
        // through pointers for the whole run, so an `emit` that ran the
        // executor again would free them under its caller. Emit callbacks
        // collect what they need and act after the run.
        precondition(self.rule == nil, "Executor.run called from inside a run")
        guard exhausted == nil, let plan = try? rule.flatPlan(seed: seed) else { return }
        self.rule = rule
        self.views = views
        self.plan = plan
        reserve(rule, plan)
        let variables = rule.slotCount
        if bindings.count != variables { bindings = [UInt32](repeating: Executor.unbound, count: variables) }
        if keyBuffers.count < plan.count { keyBuffers = Array(repeating: [], count: plan.count) }
        for literal in rule.literals.indices {
            matched[literal] = Executor.unbound
            current[literal] = views[literal] == .current
        }
        // The closure is only stored for the duration of this call.
        withoutActuallyEscaping(emit) { emit in
            self.emit = emit
            stopped = false
            // `emit` returning false, or the budget running out, ends the whole run.
            for row in seeds where !stopped {
                for slot in 0..<variables { bindings[slot] = Executor.unbound }
                guard seedBind(&bindings, row) else { continue }
                for slot in 0..<variables { slots[slot] = bindings[slot] }
                step(0)
            }
            self.emit = Executor.ignore
        }
        self.rule = nil
        self.plan = nil
    }

    /// The value bound to `slot`, for `emit` callbacks that read a derivation's body.
    @inline(__always)
    func value(of slot: Int) -> UInt32 { slots[slot] }

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
        guard index < plan.count else {
            emitHead()
            return
        }
        let step = plan.steps + index
        switch step.pointee.kind {
        case .scan:
            fillKey(step.pointee)
            if current[step.pointee.literal], let rows = step.pointee.rows {
                // Guaranteed: the rule's literal holds the table, and so the store, for the whole scan.
                rows._withUnsafeGuaranteedRef { scanCurrent(step, index, $0) }
            } else {
                scanView(step.pointee, index)
            }
        case .absent:
            fillKey(step.pointee)
            if !exists(step) { self.step(index + 1) }
        case .other:
            other(plan.original[index], index)
        }
    }

    /// A scan of the stored rows (the `.current` view), without closures:
    /// the same cases as `RowStore.forEach`.
    @inline(__always)
    private func scanCurrent(_ step: UnsafeMutablePointer<FlatPlan.Step>, _ index: Int, _ store: RowStore) {
        let keyCount = step.pointee.keyCount
        let key = keys + step.pointee.keyOffset
        let columns = plan.ints + step.pointee.keyStart
        if keyCount == store.arity {
            if let id = store.find(key: key) { _ = visit(step.pointee, index, store, id) }
        } else if store.scans(keyCount: keyCount) {
            for id in 0..<store.idLimit where store.matches(id, columns: columns, key: key, count: keyCount) {
                if !visit(step.pointee, index, store, UInt32(id)) { break }
            }
        } else {
            let position = store.index(columns: columns, count: keyCount, hint: &step.pointee.index)
            var cursor = store.first(index: position, key: key)
            while let id = cursor {
                cursor = store.next(index: position, after: id)
                if !visit(step.pointee, index, store, id) { break }
            }
        }
        unbind(step.pointee)
    }

    /// A scan of another view, through `TableState.forEach`.
    private func scanView(_ step: FlatPlan.Step, _ index: Int) {
        guard let table = rule.literals[step.literal].table else { return }
        let keyColumns = Array(UnsafeBufferPointer(start: plan.ints + step.keyStart, count: step.keyCount))
        table.forEach(views[step.literal], columns: keyColumns, key: keyArray(step, index), skipped: { tick() }) { store, row in
            visit(step, index, store, row)
        }
        unbind(step)
    }

    /// Binds and checks one matched row, then runs the rest of the plan.
    /// - Returns: false to stop the scan.
    @inline(__always)
    private func visit(_ step: FlatPlan.Step, _ index: Int, _ store: RowStore, _ row: UInt32) -> Bool {
        guard tick() else { return false }
        let pairs = plan.ints + step.bindStart
        for bind in 0..<step.bindCount { slots[pairs[bind * 2 + 1]] = store.cell(row, pairs[bind * 2]) }
        for check in step.bindCount..<step.bindCount + step.checkCount
        where slots[pairs[check * 2 + 1]] != store.cell(row, pairs[check * 2]) {
            return true
        }
        matched[step.literal] = row
        self.step(index + 1)
        return !stopped
    }

    @inline(__always)
    private func unbind(_ step: FlatPlan.Step) {
        let pairs = plan.ints + step.bindStart
        for bind in 0..<step.bindCount { slots[pairs[bind * 2 + 1]] = Executor.unbound }
    }

    /// Whether a negated literal's key matches a row of its view.
    private func exists(_ step: UnsafeMutablePointer<FlatPlan.Step>) -> Bool {
        let literal = step.pointee.literal
        guard current[literal], let rows = step.pointee.rows else {
            guard let table = rule.literals[literal].table else { return false }
            let keyColumns = Array(UnsafeBufferPointer(start: plan.ints + step.pointee.keyStart, count: step.pointee.keyCount))
            return table.exists(views[literal], columns: keyColumns, key: keyArray(step.pointee, -1))
        }
        let store = rows.takeUnretainedValue()
        let keyCount = step.pointee.keyCount
        let key = keys + step.pointee.keyOffset
        let columns = plan.ints + step.pointee.keyStart
        if keyCount == store.arity { return store.find(key: key) != nil }
        if store.scans(keyCount: keyCount) {
            return (0..<store.idLimit).contains { store.matches($0, columns: columns, key: key, count: keyCount) }
        }
        return store.first(index: store.index(columns: columns, count: keyCount, hint: &step.pointee.index), key: key) != nil
    }

    /// Builtins, comparisons and `x = e`: from the plan's `PlanStep`.
    private func other(_ planStep: PlanStep, _ index: Int) {
        switch planStep {
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
                slots[bind] = pool.intern(result)
                step(index + 1)
                slots[bind] = Executor.unbound
                return
            }
            switch output {
            case .wildcard: break
            case .constant(let id): guard BuiltinEvaluation.compare(.equal, result, pool[id]) else { return }
            case .variable(let slot): guard BuiltinEvaluation.compare(.equal, result, pool[slots[slot]]) else { return }
            }
            step(index + 1)
        case .compare(let literal):
            guard case .comparison(let op, let lhs, let rhs) = rule.literals[literal],
                let left = evaluate(lhs), let right = evaluate(rhs), BuiltinEvaluation.compare(op, left, right)
            else { return }
            step(index + 1)
        case .bindEqual(let slot, let expression):
            guard let id = evaluateID(expression) else { return }
            slots[slot] = id
            step(index + 1)
            slots[slot] = Executor.unbound
        case .scan, .absent:
            return
        }
    }

    /// Writes a step's key values (from the bound slots and constants) into `keys`.
    @inline(__always)
    private func fillKey(_ step: FlatPlan.Step) {
        let sources = plan.ints + step.keyStart + step.keyCount
        let key = keys + step.keyOffset
        for position in 0..<step.keyCount {
            let source = sources[position]
            key[position] = source >= 0 ? slots[source] : UInt32(-(source + 1))
        }
    }

    /// A step's key as an array, for the views that go through `TableState`
    /// (`index` -1: a scratch buffer, not kept per step).
    private func keyArray(_ step: FlatPlan.Step, _ index: Int) -> [UInt32] {
        let key = UnsafeBufferPointer(start: keys + step.keyOffset, count: step.keyCount)
        guard index >= 0 else { return Array(key) }
        if keyBuffers[index].count != step.keyCount { keyBuffers[index] = [UInt32](repeating: 0, count: step.keyCount) }
        for position in 0..<step.keyCount { keyBuffers[index][position] = key[position] }
        return keyBuffers[index]
    }

    private func emitHead() {
        derivationsLeft -= 1
        if derivationsLeft < 0 { return exhaust(.derivedRows) }
        guard tick() else { return }
        if let head = plan.head {
            if headRow.count != plan.headCount { headRow = [UInt32](repeating: 0, count: plan.headCount) }
            for column in 0..<plan.headCount {
                let source = head[column]
                headRow[column] = source >= 0 ? slots[source] : UInt32(-(source + 1))
            }
        } else {
            let arguments = rule.headArguments
            if headRow.count != arguments.count { headRow = [UInt32](repeating: 0, count: arguments.count) }
            for (column, argument) in arguments.enumerated() {
                guard let id = evaluateID(argument) else { return }
                headRow[column] = id
            }
        }
        if !emit(headRow) { stopped = true }
    }

    private func evaluateID(_ expression: SlotExpression) -> UInt32? {
        switch expression {
        case .variable(let slot): return slots[slot]
        case .constant(let id): return id
        case .arithmetic:
            guard let value = evaluate(expression) else { return nil }
            return pool.intern(value)
        }
    }

    private func evaluate(_ expression: SlotExpression) -> Value? {
        switch expression {
        case .variable(let slot): return pool[slots[slot]]
        case .constant(let id): return pool[id]
        case .arithmetic(let op, let lhs, let rhs):
            guard let left = evaluate(lhs), let right = evaluate(rhs) else { return nil }
            return BuiltinEvaluation.arithmetic(op, left, right)
        }
    }
}
