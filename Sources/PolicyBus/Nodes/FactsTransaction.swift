import PolicyEngine

/// One data-source transaction, worked out a step of rows at a time
/// against the published rows (`DataSourceBehavior`): per table the exact
/// change, which the source then publishes as one delta. Nothing is
/// published, and the published rows are only read, until it is done, so a
/// node may serve other requests between its steps, as long as no other
/// change to the source's tables comes between (the source queues them).
struct FactsTransaction {
    /// Rows to insert into, delete from, or make the whole of one table.
    struct Part {
        enum Action { case insert, delete, replace }
        let table: String
        let action: Action
        let rows: [Row]
    }

    /// How many rows one step of a queued change works through: about a
    /// millisecond or two of hashing on a release build.
    static let rowsPerStep = 8192

    let parts: [Part]
    /// The most rows one `replace` may hold.
    let rowLimit: Int
    /// Where the next step starts: a part, and a row in it.
    private var part = 0
    private var row = 0
    /// Per table, in order of first mention: net rows to add and remove
    /// relative to the published contents, or (after a replace) the
    /// complete new contents.
    private(set) var pending: [PendingTable] = []
    private var positions: [TableID: Int] = [:]
    /// The table the previous part named, and its entry.
    private var last: (name: String, position: Int)?
    /// Each table's arity, as its first rows in this transaction set it.
    private var arity: [TableID: Int] = [:]
    /// After the parts: the replaced tables' differences, table by table.
    private var differencing: Difference?

    /// A replaced table's difference in progress: first its new rows not
    /// published (added), then its published rows not new (removed).
    private struct Difference {
        var entry: Int
        var new: Set<Row>.Index
        /// The published rows, shared with the publisher until the
        /// difference is done (then let go, so that publishing copies nothing).
        var old: Set<Row>
        var oldIndex: Set<Row>.Index
    }

    init(_ parts: [Part], rowLimit: Int) {
        self.parts = parts
        self.rowLimit = rowLimit
    }

    /// The transaction of a source's changes, as `apply` takes them.
    init(_ changes: [FactChange], rowLimit: Int) {
        self.init(changes.map { change in
            switch change {
            case .insert(let table, let row): Part(table: table, action: .insert, rows: [row])
            case .delete(let table, let row): Part(table: table, action: .delete, rows: [row])
            case .replace(let table, let rows): Part(table: table, action: .replace, rows: rows)
            }
        }, rowLimit: rowLimit)
    }

    /// How many rows the transaction names.
    var rowCount: Int { parts.reduce(0) { $0 + $1.rows.count } }

    var isDone: Bool { part == parts.count && differencing == nil && !hasDifferenceLeft }

    private var hasDifferenceLeft: Bool { pending.contains { $0.full != nil && !$0.differenced } }

    /// Works through about `rows` more rows.
    /// - Throws: the first bad row's error (`bad-table-name`,
    ///   `unknown-table`, `arity-mismatch`, `too-many-rows`): the whole
    ///   transaction is refused.
    mutating func step(rows budget: Int, source: DataSourceBehavior) throws(BusError) {
        var budget = budget
        while budget > 0, part < parts.count {
            budget -= try stepPart(rows: budget, source: source)
        }
        while budget > 0, part == parts.count, !isDone {
            budget -= stepDifference(rows: budget, publisher: source.context.publisher)
        }
    }

    /// Up to `budget` rows of the current part.
    /// - Returns: how many rows it took (at least one, for an empty part).
    private mutating func stepPart(rows budget: Int, source: DataSourceBehavior) throws(BusError) -> Int {
        let current = parts[part]
        let position = try entry(of: current.table, source: source)
        let table = pending[position].table
        if row == 0, current.action == .replace {
            guard current.rows.count <= rowLimit else {
                throw BusError(.tooManyRows, "\(current.rows.count) rows; the limit is \(rowLimit) (--max-rows)")
            }
            pending[position].full = Set(minimumCapacity: current.rows.count)
            pending[position].added = []
            pending[position].removed = []
        }
        let end = row + min(current.rows.count - row, budget)
        // Declared, else set by this transaction's earlier rows, else the published rows'.
        var expected = source.schema[table.name]?.count ?? arity[table] ?? source.context.publisher.snapshot(table)?.rows.first?.count
        let publisher = source.context.publisher
        for index in row..<end {
            let values = current.rows[index]
            if current.action != .delete {
                if let expected, expected != values.count {
                    throw BusError(BusError.Code(rawValue: "arity-mismatch"), "\(table) has \(expected) columns; the row has \(values.count)")
                }
                expected = values.count
            }
            switch current.action {
            case .insert:
                if pending[position].full != nil {
                    pending[position].full!.insert(values)
                } else if pending[position].removed.remove(values) == nil, !publisher.contains(values, in: table) {
                    pending[position].added.insert(values)
                }
            case .delete:
                if pending[position].full != nil {
                    pending[position].full!.remove(values)
                } else if pending[position].added.remove(values) == nil, publisher.contains(values, in: table) {
                    pending[position].removed.insert(values)
                }
            case .replace:
                pending[position].full!.insert(values)
            }
        }
        if let expected, current.action != .delete { arity[table] = expected }
        let taken = end - row
        row = end
        if row == current.rows.count {
            part += 1
            row = 0
        }
        return max(taken, 1)
    }

    /// The pending entry of a table named by a change, made at its first mention.
    private mutating func entry(of name: String, source: DataSourceBehavior) throws(BusError) -> Int {
        // A transaction usually touches one table: the previous part's entry first.
        if let last, last.name == name { return last.position }
        let table = try source.table(name)
        let position = positions[table] ?? pending.count
        if position == pending.count {
            positions[table] = position
            pending.append(PendingTable(table: table))
        }
        last = (name, position)
        return position
    }

    /// Up to `budget` rows of the replaced tables' differences.
    /// - Returns: how many rows it took (at least one).
    private mutating func stepDifference(rows budget: Int, publisher: TablePublisher) -> Int {
        if differencing == nil {
            guard let entry = pending.firstIndex(where: { $0.full != nil && !$0.differenced }) else { return 1 }
            let old = publisher.snapshot(pending[entry].table)?.rows ?? []
            differencing = Difference(entry: entry, new: pending[entry].full!.startIndex, old: old, oldIndex: old.startIndex)
            return 1
        }
        var work = differencing!
        differencing = nil
        let full = pending[work.entry].full!
        var taken = 0
        while taken < budget, work.new != full.endIndex {
            let values = full[work.new]
            if !work.old.contains(values) { pending[work.entry].added.insert(values) }
            full.formIndex(after: &work.new)
            taken += 1
        }
        while taken < budget, work.oldIndex != work.old.endIndex {
            let values = work.old[work.oldIndex]
            if !full.contains(values) { pending[work.entry].removed.insert(values) }
            work.old.formIndex(after: &work.oldIndex)
            taken += 1
        }
        if work.new == full.endIndex, work.oldIndex == work.old.endIndex {
            pending[work.entry].differenced = true
        } else {
            differencing = work
        }
        return max(taken, 1)
    }
}
