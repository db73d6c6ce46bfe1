/// A transaction after its text was parsed and checked: net rule changes and row operations.
struct LoweredTransaction {
    enum RowOperation {
        case insert(TableID, [Value])
        case delete(TableID, [Value])
        case replace(TableID, [[Value]])
        case replaceWithSet(TableID, Set<[Value]>)
        /// `rows` rows of values already interned in this engine's pool,
        /// stored flat, one after the other: a large facts file, read
        /// without an array per row (`OfflineEvaluation.readFacts`).
        case insertInterned(TableID, rows: Int, cells: ArraySlice<UInt32>)
    }

    /// The rows of an `insertInterned` operation, one at a time, in one
    /// reused array (a row `body` keeps is copied when the next one is written).
    static func forEachRow(rows: Int, cells: ArraySlice<UInt32>, _ body: ([UInt32]) -> Void) {
        let arity = rows == 0 ? 0 : cells.count / rows
        var row = [UInt32](repeating: 0, count: arity)
        var start = cells.startIndex
        for _ in 0..<rows {
            for column in 0..<arity { row[column] = cells[start + column] }
            body(row)
            start += arity
        }
    }

    var addedRules: [CheckedRule] = []
    var removedRules: [RuleKey] = []
    var rowOperations: [RowOperation] = []
    /// The front end's state after the transaction, when it had policy text.
    var frontEnd: FrontEndState?
}

/// What a roll-back puts back after the commit besides the tables' rows,
/// which each table's own undo log restores: the program as it was. Kept for
/// every transaction; it costs a few references.
struct TransactionUndo {
    var added: [CompiledRule]
    var removed: [CompiledRule]
    var newTables: [TableID]
    /// The program graph before, when the transaction replaced it.
    var graph: ProgramGraph?
    var graphIsStale: Bool
    var frontEnd: FrontEndState
}

extension Engine {
    private enum InternedOperation {
        case insert(TableState, [UInt32])
        case delete(TableState, [UInt32])
        case replace(TableState, rows: Int, cells: [UInt32])
        case insertInterned(TableState, rows: Int, cells: ArraySlice<UInt32>)
    }

    /// Applies a transaction all-or-nothing, like `apply(_:budget:)`, and
    /// calls `beforeCommit` once the transaction is known to be valid and
    /// within its budget, before any trigger fires: the place to make it
    /// durable (write ahead, fsync). If the hook throws, the transaction is
    /// rolled back, the engine is as it was and no trigger fired.
    /// - Returns: each changed table's net delta, sorted by table.
    /// - Throws: a `PolicyError` when the engine refuses the transaction
    ///   (`too-expensive` over `budget`; the hook is then not called), else
    ///   what `beforeCommit` throws.
    @discardableResult
    public func apply(
        _ transaction: Transaction, budget: TransactionBudget = .unlimited, beforeCommit: () throws -> Void
    ) throws -> [TableDelta] {
        var hookError: (any Error)?
        do {
            return try applyLowered(try lower(transaction), budget: budget) { () throws(PolicyError) in
                do { try beforeCommit() } catch {
                    hookError = error
                    // Never seen by a caller: replaced by the hook's own error below.
                    throw PolicyError(PolicyError.Code(rawValue: "commit-hook-failed"), "\(error)")
                }
            }
        } catch {
            throw hookError ?? error
        }
    }

    /// Validates everything first (nothing changes if anything is wrong),
    /// then commits and maintains the derived tables within `budget`, then
    /// calls `beforeCommit`, then fires the triggers. Over the budget, or when
    /// the hook throws, the transaction is rolled back: the engine is as it
    /// was and no trigger fires.
    @discardableResult
    func applyLowered(
        _ change: LoweredTransaction, returningDeltas: Bool = true, budget: TransactionBudget = .unlimited,
        firingTriggers: Bool = true, beforeCommit: () throws(PolicyError) -> Void = {}
    ) throws(PolicyError) -> [TableDelta] {
        // The values of deleted rows and removed rules, and those of a refused
        // change or a query, go when the transaction ends either way.
        defer { pool.sweep(pausing: pauses) }
        pauses.begin()
        return try applyInterned(
            change, returningDeltas: returningDeltas, budget: budget, firingTriggers: firingTriggers, beforeCommit: beforeCommit)
    }

    private func applyInterned(
        _ change: LoweredTransaction, returningDeltas: Bool, budget: TransactionBudget, firingTriggers: Bool,
        beforeCommit: () throws(PolicyError) -> Void
    ) throws(PolicyError) -> [TableDelta] {
        // 1. Validate. New tables live only in `newTables` until the commit.
        var newTables: [TableID: TableState] = [:]
        var lastTable: TableState?  // bulk loads name one table a million times
        func table(_ id: TableID, arity: Int, at location: SourceLocation?) throws(PolicyError) -> TableState {
            if let lastTable, lastTable.arity == arity, lastTable.id == id { return lastTable }
            if let existing = tableStates[id] ?? newTables[id] {
                guard existing.arity == arity else {
                    throw PolicyError(
                        .arityMismatch, "\(id) has \(existing.arity) columns, but is used here with \(arity)", at: location)
                }
                lastTable = existing
                return existing
            }
            let created = TableState(id: id, arity: arity, pool: pool, pausing: pauses)
            newTables[id] = created
            return created
        }

        var removed: [CompiledRule] = []
        for key in change.removedRules {
            guard let rule = rulesByKey[key] else {
                throw PolicyError(.unknownRule, "policy '\(key.policy)' has no rule '\(key.text)'")
            }
            removed.append(rule)
        }
        var added: [CompiledRule] = []
        for rule in change.addedRules {
            guard policySet.contains(rule.policy) else {
                throw PolicyError(.unknownPolicy, "there is no policy '\(rule.policy)'; create it first", at: rule.location)
            }
            added.append(try compile(rule, table: table))
        }

        /// A replace's rows interned into one flat array: an array a row
        /// would be a million allocations for a peer's snapshot, and as
        /// many frees in one step when the transaction ends.
        func interned(replacing id: TableID, with rows: some Collection<[Value]>) throws(PolicyError) -> InternedOperation? {
            guard let first = rows.first else {
                return (tableStates[id] ?? newTables[id]).map { .replace($0, rows: 0, cells: []) }
            }
            let state = try table(id, arity: first.count, at: nil)
            var cells: [UInt32] = []
            cells.reserveCapacity(rows.count * state.arity)
            for row in rows {
                pauses.row()
                guard row.count == state.arity else {
                    throw PolicyError(.arityMismatch, "\(id) has \(state.arity) columns, but a row has \(row.count)")
                }
                for value in row { cells.append(pool.intern(value)) }
            }
            return .replace(state, rows: rows.count, cells: cells)
        }

        var operations: [InternedOperation] = []
        for operation in change.rowOperations {
            pauses.row()
            switch operation {
            case .insert(let id, let row):
                operations.append(.insert(try table(id, arity: row.count, at: nil), row.map(pool.intern)))
            case .delete(let id, let row):
                if tableStates[id] == nil && newTables[id] == nil { continue }
                let state = try table(id, arity: row.count, at: nil)
                // A value never interned is in no row: nothing to delete, and nothing to remember.
                guard let ids = pool.ids(of: row) else { continue }
                operations.append(.delete(state, ids))
            case .replace(let id, let rows):
                if let replace = try interned(replacing: id, with: rows) { operations.append(replace) }
            case .replaceWithSet(let id, let rows):
                if let replace = try interned(replacing: id, with: rows) { operations.append(replace) }
            case .insertInterned(let id, let rows, let cells):
                guard rows > 0 else { continue }
                operations.append(.insertInterned(try table(id, arity: cells.count / rows, at: nil), rows: rows, cells: cells))
            }
        }

        let rulesChanged = !added.isEmpty || !removed.isEmpty
        var newGraph: ProgramGraph?
        if rulesChanged || !newTables.isEmpty || graphIsStale {
            let removedKeys = Set(removed.map(\.key))
            var allRules = rulesByKey.values.filter { !removedKeys.contains($0.key) }
            allRules.append(contentsOf: added)
            let allTables = Array(tableStates.values) + Array(newTables.values)
            let components = try stratify(allRules, tables: allTables.map(\.id), checked: change.frontEnd?.program)
            newGraph = ProgramGraph(tables: allTables, rules: allRules.sorted { $0.key < $1.key }, components: components)
        }

        // 2. Commit, keeping what a roll-back needs.
        let undo = TransactionUndo(
            added: added, removed: removed, newTables: Array(newTables.keys), graph: newGraph == nil ? nil : graph,
            graphIsStale: graphIsStale, frontEnd: frontEnd)
        for (id, state) in newTables { tableStates[id] = state }
        for rule in removed {
            rulesByKey[rule.key] = nil
            for id in rule.constants { pool.release(id) }
        }
        for rule in added {
            rulesByKey[rule.key] = rule
            for id in rule.constants { pool.hold(id) }
        }
        if let newGraph {
            graph = newGraph
            graphIsStale = false
            for state in tableStates.values { state.isDerived = graph.rulesByHead[ObjectIdentifier(state)] != nil }
        }
        if let newFrontEnd = change.frontEnd { frontEnd = newFrontEnd }
        for key in removed.map(\.key) { frontEnd.syntax[key] = nil }
        for operation in operations {
            pauses.row()
            switch operation {
            case .insert(let state, let row): requestFact(state, row, true)
            case .delete(let state, let row): requestFact(state, row, false)
            case .replace(let state, let rows, let cells): requestReplace(state, rows: rows, cells: cells[...]) { requestFact(state, $0, $1) }
            case .insertInterned(let state, let rows, let cells):
                LoweredTransaction.forEachRow(rows: rows, cells: cells) { row in
                    pauses.row()
                    requestFact(state, row, true)
                }
            }
        }

        executor.arm(budget)
        maintain(added: added, removed: removed)
        if let spent = executor.disarm() {
            rollBack(undo)
            var error = PolicyError(.tooExpensive, Self.overBudget(spent, budget))
            error.exhausted = spent
            throw error
        }
        do {
            try beforeCommit()
        } catch {
            rollBack(undo)
            throw error
        }
        return finishTransaction(returningDeltas: returningDeltas, firingTriggers: firingTriggers)
    }

    private static func overBudget(_ resource: TransactionBudget.Resource, _ budget: TransactionBudget) -> String {
        if resource == .stopped { return "the engine was asked to stop (its node is stopping): the change was rolled back and nothing changed" }
        let hint = switch resource {
        case .derivedRows: "a rule that derives without end, such as n(y) :- n(x), y = x + 1, or a large cross product?"
        case .computedBytes: "a concat that lengthens its strings without end?"
        case .time: "a join over large tables that derives little, or a busy machine?"
        case .stopped: ""
        }
        return "the change needs more than \(budget.limit(of: resource)) \(resource.rawValue), the budget of one transaction; "
            + "it was rolled back and nothing changed (\(hint))"
    }

    /// Undoes a committed, maintained transaction whose triggers have not
    /// fired: the rules, graph and front end as they were, and every table's
    /// rows, counts, ranks and indexes by its undo log, newest change first.
    /// Costs what the transaction did (and a look at each table), never a
    /// table's size. The values the transaction interned go at the sweep
    /// that ends it (`applyLowered`).
    private func rollBack(_ undo: TransactionUndo) {
        for rule in undo.added {
            rulesByKey[rule.key] = nil
            for id in rule.constants { pool.release(id) }
        }
        for rule in undo.removed {
            rulesByKey[rule.key] = rule
            for id in rule.constants { pool.hold(id) }
        }
        // New tables too: their rows give back the values they hold.
        for state in tableStates.values { state.undoTransaction(pauses: pauses) }
        for id in undo.newTables { tableStates[id] = nil }
        if let old = undo.graph {
            graph = old
            for state in tableStates.values { state.isDerived = graph.rulesByHead[ObjectIdentifier(state)] != nil }
        }
        graphIsStale = undo.graphIsStale
        frontEnd = undo.frontEnd
    }

    /// The front end's components of the program: the checker's, when it
    /// checked exactly these rules, else the stratifier's on the lowered rules
    /// (some came without text, or rules were only removed).
    /// - Throws: `unstratified-negation`.
    private func stratify(_ rules: [CompiledRule], tables: [TableID], checked: CheckedProgram?) throws(PolicyError)
        -> [Stratifier.Component]
    {
        if let checked, checked.rules.count == rules.count,
            Set(checked.rules.map { RuleKey(policy: $0.policy, text: $0.text) }) == Set(rules.map(\.key))
        {
            return checked.components
        }
        let result = Stratifier(tables: tables, rules: rules.sorted { $0.key < $1.key }.map(\.rule)).stratify()
        if let first = result.errors.first { throw first }
        return result.components
    }

    /// Tables no rule derives into take fact changes at once; the others queue
    /// them for their stratum's maintenance, which needs counts and old states.
    private func requestFact(_ state: TableState, _ row: [UInt32], _ wanted: Bool) {
        if !state.isDerived && state.pendingFacts.isEmpty {
            state.setFact(row, wanted)
        } else {
            state.requestFact(row, wanted)
        }
    }

    private func requestReplace(_ state: TableState, rows: Int, cells: ArraySlice<UInt32>, request: ([UInt32], Bool) -> Void) {
        let wanted = RowStore(arity: state.arity, pausing: pauses)
        LoweredTransaction.forEachRow(rows: rows, cells: cells) { row in
            pauses.row()
            wanted.insert(row)
        }
        for id in state.rows.ids where state.isFact(id) {
            pauses.row()
            let row = state.rows.row(id)
            if wanted.find(row) == nil { request(row, false) }
        }
        for id in state.pendingFacts.ids {
            let row = state.pendingFacts.row(id)
            if wanted.find(row) == nil { request(row, false) }
        }
        LoweredTransaction.forEachRow(rows: rows, cells: cells) { row in
            pauses.row()
            request(row, true)
        }
    }

    /// Lowers a checked rule onto tables and interned constants.
    private func compile(
        _ rule: CheckedRule, table: (TableID, Int, SourceLocation?) throws(PolicyError) -> TableState
    ) throws(PolicyError) -> CompiledRule {
        func lowered(_ pattern: Pattern) -> SlotPattern {
            switch pattern {
            case .variable(let slot): .variable(slot)
            case .constant(let value): .constant(pool.intern(value))
            case .wildcard: .wildcard
            }
        }
        func lowered(_ expression: Expression) -> SlotExpression {
            switch expression {
            case .variable(let slot): .variable(slot)
            case .constant(let value): .constant(pool.intern(value))
            case .arithmetic(let op, let lhs, let rhs): .arithmetic(op, lowered(lhs), lowered(rhs))
            }
        }
        let head = try table(rule.head, rule.headArguments.count, rule.location)
        var literals: [SlotLiteral] = []
        // A `_` in a positive literal gets its own slot, so that a derivation's
        // body rows can be read back from the bindings (the proof search needs them).
        var slotCount = rule.variableCount
        func bindingPattern(_ pattern: Pattern) -> SlotPattern {
            guard case .wildcard = pattern else { return lowered(pattern) }
            slotCount += 1
            return .variable(slotCount - 1)
        }
        for literal in rule.body {
            switch literal {
            case .positive(let id, let patterns):
                literals.append(.positive(try table(id, patterns.count, rule.location), patterns.map(bindingPattern)))
            case .negative(let id, let patterns):
                literals.append(.negative(try table(id, patterns.count, rule.location), patterns.map(lowered)))
            case .function(let builtin, let inputs, let output):
                literals.append(.function(builtin, inputs.map(lowered), lowered(output)))
            case .comparison(let op, let lhs, let rhs):
                literals.append(.comparison(op, lowered(lhs), lowered(rhs)))
            }
        }
        let compiled = CompiledRule(
            rule: rule, head: head, headArguments: rule.headArguments.map(lowered), literals: literals, slotCount: slotCount)
        // Fail now, not mid-maintenance, if no safe order exists.
        _ = try compiled.plan(seed: CompiledRule.fullPlan)
        return compiled
    }

    /// A table's net delta so far in the transaction under way.
    /// Pauses for the engine's owner every so many rows: a delta of a
    /// million rows takes a second in a debug build.
    func delta(of state: TableState) -> TableDelta {
        let arity = state.arity
        let added = state.addedIDs.map { id in
            pauses.row()
            return (0..<arity).map { pool[state.rows.cell(id, $0)] }
        }
        let removedRows = state.removedRows
        let removed = removedRows.ids.map { id in
            pauses.row()
            return (0..<arity).map { pool[removedRows.cell(id, $0)] }
        }
        return TableDelta(table: state.id, added: added, removed: removed)
    }

    /// Collects the net deltas (of every changed table, or only of those
    /// triggers watch), resets the transaction state and fires the triggers.
    private func finishTransaction(returningDeltas: Bool, firingTriggers: Bool) -> [TableDelta] {
        var deltas: [TableDelta] = []
        let watched = returningDeltas ? [] : Set(triggerList.map(\.table))
        for state in tableStates.values {
            if state.hasDelta && (returningDeltas || watched.contains(state.id)) { deltas.append(delta(of: state)) }
            state.clearTransaction()
        }
        deltas.sort { $0.table < $1.table }
        if firingTriggers && !triggerList.isEmpty {
            let byTable = Dictionary(uniqueKeysWithValues: deltas.map { ($0.table, $0) })
            // Copy: a callback may add or remove triggers.
            for trigger in triggerList {
                if let delta = byTable[trigger.table] { trigger.callback(delta) }
            }
        }
        return returningDeltas ? deltas : []
    }
}
