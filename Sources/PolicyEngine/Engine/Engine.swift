/// The incremental Datalog engine: named policies (rules and facts), base tables
/// fed from outside, every derived table materialised, and triggers that get
/// each transaction's exact net delta.
///
/// Maintenance is incremental: non-recursive tables keep a derivation count per
/// row (counting); recursive strata keep a well-founded rank per row and, on a
/// deletion, delete and re-derive only the rows left without a lower-ranked
/// derivation (see `RankedDeletion`). Joins are index lookups on the bound columns (indexes are built
/// on first use per table and column set, and join orders are re-planned when
/// table sizes change a lot); values are interned to `UInt32` ids and rows are
/// stored flat, so a transaction costs in proportion to the rows it touches,
/// not to the size of the tables. Adding a rule evaluates only that rule (and,
/// in a recursive stratum, what it newly derives); a rule change that merges
/// or splits recursive strata also re-ranks the rows of the changed stratum.
///
/// Semantics worth knowing: `=`, `!=` and builtin outputs compare values by
/// identity (`1 = 1.0` is false), ordering comparisons compare ints and floats
/// numerically; arithmetic type errors, overflow and division by zero derive nothing.
///
/// Not thread-safe: one thread owns an engine.
public final class Engine {
    let pool = ValuePool()
    let pauses = LongWorkPauses()
    lazy var executor = Executor(pool: pool, pauses: pauses)
    var policySet: Set<String> = [] { didSet { ruleBodies = nil } }
    var tableStates: [TableID: TableState] = [:]
    var columnNames: [TableID: [String]] = [:]
    var rulesByKey: [RuleKey: CompiledRule] = [:] { didSet { ruleBodies = nil } }
    /// The tables each head's rules read, for `remoteInputs(of:)`: asked for
    /// each held subscribe every tick and each table in `status`, so built
    /// once per change of the rules or policies, not per call.
    private var ruleBodies: [TableID: Set<TableID>]?
    var graph = ProgramGraph()
    var graphIsStale = false
    var triggerList: [(id: TriggerID, table: TableID, callback: (TableDelta) -> Void)] = []
    var nextTriggerID = 0
    /// Front-end state (rule syntax for re-checking), owned by Engine+Language.
    var frontEnd = FrontEndState()
    /// The last table `rows(of:)` sorted, at its version: a client paging
    /// through a table (`query` with `offset`), or many subscribers taking
    /// its snapshot, sort it once, not once a page. One table's copy at most.
    var sortedRows: (table: TableState, version: Int, rows: [[Value]])?
    /// The longest qualified table name that rule text given to `apply` may
    /// name, in bytes: longer is `bad-table-name`. Unbounded by default; a
    /// node sets its protocol limit once its own policies and log are loaded.
    public var maxTableNameLength = Int.max

    public init() {
        pool.pauses = pauses
    }

    /// Called every few thousand rows of long work (a transaction's joins,
    /// stored rows and roll-back, a simulation, an explanation), so that the
    /// engine's owner can serve what waits outside the engine: a node's
    /// loop sends its heartbeats and reads its sockets there. It must not
    /// touch the engine, and it should return quickly when little time has
    /// passed (it reads the clock; the engine does not). Returning false
    /// stops the work: the transaction is rolled back (`too-expensive`).
    public var pause: (() -> Bool)? {
        get { pauses.hook }
        set { pauses.hook = newValue }
    }

    // MARK: - Tables

    /// Records a base table's column names, so that rules may refer to its
    /// columns by name. Declaring a table also makes it known.
    public func declareColumns(_ columns: [String], for table: TableID) {
        columnNames[table] = columns
        if tableStates[table] == nil {
            tableStates[table] = TableState(id: table, arity: columns.count, pool: pool, pausing: pauses)
            graphIsStale = true
        }
    }

    /// A base table's declared column names.
    public func columns(of table: TableID) -> [String]? { columnNames[table] }

    /// The table's rows, sorted. Empty for an unknown table.
    public func rows(of table: TableID) -> [[Value]] {
        guard let state = tableStates[table] else { return [] }
        if let sorted = sortedRows, sorted.table === state, sorted.version == state.version { return sorted.rows }
        let rows = state.rows.ids.map { values(state.rows.row($0)) }.sorted(by: rowPrecedes)
        sortedRows = (state, state.version, rows)
        return rows
    }

    /// Calls `body` with each row of the table, in no particular order: cheaper
    /// than `rows(of:)` for a large snapshot that needs no sorting.
    public func forEachRow(of table: TableID, _ body: ([Value]) throws -> Void) rethrows {
        guard let state = tableStates[table] else { return }
        for id in state.rows.ids { try body(values(state.rows.row(id))) }
    }

    /// How many rows a table holds.
    public func count(of table: TableID) -> Int { tableStates[table]?.rows.count ?? 0 }

    /// Whether the table is known: it has rows, rules, declared columns, or a rule refers to it.
    public func contains(_ table: TableID) -> Bool { tableStates[table] != nil }

    /// Every known table, sorted.
    public var tables: [TableID] { tableStates.keys.sorted() }

    /// Tables that rules read but that belong to no policy of this engine
    /// (data source tables such as `nova:servers`, or another engine's policy
    /// tables): the bus subscribes to these.
    public var remoteTables: Set<TableID> {
        var result = Set<TableID>()
        for rule in rulesByKey.values {
            for literal in rule.literals {
                if let table = literal.table, !policySet.contains(table.id.service) { result.insert(table.id) }
            }
        }
        return result
    }

    /// The remote tables (see `remoteTables`) that `table`'s rows come
    /// from, through any chain of rules: a table is only as complete as these.
    public func remoteInputs(of table: TableID) -> Set<TableID> {
        let bodies = ruleBodies ?? {
            var bodies: [TableID: Set<TableID>] = [:]
            for rule in rulesByKey.values {
                for literal in rule.literals {
                    if let body = literal.table { bodies[rule.head.id, default: []].insert(body.id) }
                }
            }
            ruleBodies = bodies
            return bodies
        }()
        var result = Set<TableID>()
        var seen: Set<TableID> = [table]
        var pending = [table]
        while let next = pending.popLast() {
            for body in bodies[next] ?? [] where seen.insert(body).inserted {
                if policySet.contains(body.service) { pending.append(body) } else { result.insert(body) }
            }
        }
        return result
    }

    // MARK: - Triggers

    /// Calls `callback` with the table's net delta after every transaction that changes it.
    /// The table need not exist yet.
    @discardableResult
    public func addTrigger(on table: TableID, _ callback: @escaping (TableDelta) -> Void) -> TriggerID {
        nextTriggerID += 1
        let id = TriggerID(rawValue: nextTriggerID)
        triggerList.append((id, table, callback))
        return id
    }

    /// Unregisters a trigger. Unknown ids are ignored.
    public func removeTrigger(_ id: TriggerID) {
        removeTriggers([id])
    }

    /// Unregisters triggers in one pass over the list (one at a time, many
    /// removals cost the square of the triggers). Unknown ids are ignored.
    public func removeTriggers(_ ids: Set<TriggerID>) {
        guard !ids.isEmpty else { return }
        triggerList.removeAll { ids.contains($0.id) }
    }

    /// The registered triggers, in registration order.
    public var triggers: [(id: TriggerID, table: TableID)] { triggerList.map { ($0.id, $0.table) } }

    // MARK: - Transactions

    /// Applies a transaction all-or-nothing, then fires the triggers of the changed tables.
    /// - Parameter budget: what the transaction may derive (unbounded by default).
    /// - Returns: each changed table's net delta, sorted by table.
    /// - Throws: a `PolicyError` (syntax, arity, unknown policy or rule, unstratified
    ///   negation, `too-expensive` over the budget, ...); the engine is then
    ///   unchanged and no trigger fires.
    @discardableResult
    public func apply(_ transaction: Transaction, budget: TransactionBudget = .unlimited) throws(PolicyError) -> [TableDelta] {
        let lowered = try lower(transaction)
        return try applyLowered(lowered, budget: budget)
    }

    /// Applies a transaction like `apply(_:)` and fires the same triggers, but
    /// returns no deltas: the rows a table gained or lost are turned into
    /// values only for tables a trigger watches. For bulk loads and full
    /// evaluations whose deltas nobody reads (a million added rows would
    /// otherwise become a million `[Value]` arrays).
    /// - Throws: what `apply(_:)` throws; the engine is then unchanged.
    public func load(_ transaction: Transaction, budget: TransactionBudget = .unlimited) throws(PolicyError) {
        let lowered = try lower(transaction)
        try applyLowered(lowered, returningDeltas: false, budget: budget)
    }

    func values(_ ids: [UInt32]) -> [Value] { ids.map { pool[$0] } }
}
