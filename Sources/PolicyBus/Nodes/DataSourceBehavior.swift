import PolicyEngine
import ZeroMQ

/// A data source: serves tables of facts under `NAME:table`.
///
/// Every table it has had rows in, or a schema for, is published (with
/// heartbeats) whether or not anyone subscribes; subscribing to a table it
/// does not have yet opens it empty, until its last subscriber goes (so client
/// input cannot grow the node without bound). Changes come from `apply(_:)`
/// (stdin in the CLI) or the `facts` op.
final class DataSourceBehavior: NodeBehavior {
    let kind = "datasource"
    let schema: [String: [String]]
    let context: NodeContext
    /// Tables opened only because a client subscribed: closed again when the
    /// last subscriber goes while they are still empty. Writing makes a table the source's own.
    var openedBySubscribe: Set<TableID> = []
    /// The last table sorted, at its seq: a client paging through a table
    /// (`query` with `offset`), or many subscribers taking its snapshot,
    /// sort it once, not once a page. One table's copy at most.
    var sorted: (table: TableID, seq: UInt64, rows: [Row])?

    init(schema: [String: [String]], context: NodeContext) {
        self.schema = schema
        self.context = context
    }

    func table(_ name: String) throws(BusError) -> TableID {
        guard TableID.isIdentifier(name) else { throw BusError(.badTableName, "'\(name)' is not a table name") }
        let table = TableID(service: context.name, name: name)
        try validate(table)
        return table
    }

    /// A table this source can have: its own service's, and with a schema,
    /// one the schema names (a typo would otherwise create a table no one reads).
    func validate(_ table: TableID) throws(BusError) {
        guard table.service == context.name else {
            throw BusError(.unknownTable, "this data source serves \(context.name):*, not \(table)")
        }
        guard schema.isEmpty || schema[table.name] != nil else {
            throw BusError(.unknownTable, "\(table) is not in this data source's schema (\(schema.keys.sorted().joined(separator: ", ")))")
        }
    }

    func open(_ table: TableID) {
        guard !context.publisher.isOpen(table) else { return }
        context.open(table, columns: schema[table.name])
        if schema[table.name] == nil { openedBySubscribe.insert(table) }
    }

    func close(_ tables: [TableID]) {
        for table in tables {
            guard openedBySubscribe.contains(table), context.publisher.snapshot(table)?.rows.isEmpty ?? true else { continue }
            openedBySubscribe.remove(table)
            context.close(table)
        }
    }

    /// Checks a row against the table's declared arity, else the arity the
    /// transaction's earlier rows set (`batch`), else the published rows'.
    /// Without `batch`, an empty table would accept rows of any arity.
    func checkArity(_ row: Row, table: TableID, batch: inout [TableID: Int]) throws(BusError) {
        let expected = schema[table.name]?.count ?? batch[table] ?? context.publisher.snapshot(table)?.rows.first?.count
        if let expected, expected != row.count {
            throw BusError(BusError.Code(rawValue: "arity-mismatch"), "\(table) has \(expected) columns; the row has \(row.count)")
        }
        batch[table] = row.count
    }

    /// Applies one transaction: each table it touches gets one delta.
    /// All-or-nothing: a bad row rejects the whole transaction. Inserts and
    /// deletes cost in proportion to the rows they touch, not the table's size.
    /// - Parameter rowLimit: the most rows one `replace` may hold: the
    ///   request limit, but none for the facts file read at start (the
    ///   operator's, loaded before anyone is served).
    func apply(_ changes: [FactChange], rowLimit: Int) throws(BusError) {
        let rowCount = changes.reduce(0) { $0 + $1.rowCount }
        do {
            try applyChecked(changes, rowLimit: rowLimit)
            context.monitor.facts(accepted: rowCount)
        } catch {
            context.monitor.facts(rejected: rowCount)
            throw error
        }
    }

    func apply(_ changes: [FactChange]) throws(BusError) {
        try apply(changes, rowLimit: context.limits.maxRowsPerRequest)
    }

    /// `apply(_:)` without the counting of accepted and rejected rows.
    private func applyChecked(_ changes: [FactChange], rowLimit: Int) throws(BusError) {
        // Per table, in order of first mention: net rows to add and remove
        // relative to the published contents, or (after a replace) the
        // complete new contents. A transaction usually touches one table, so
        // the entry of the previous change is tried before the dictionary.
        var pending: [PendingTable] = []
        var positions: [TableID: Int] = [:]
        var last: (name: String, position: Int)?
        var arity: [TableID: Int] = [:]
        for change in changes {
            let position: Int
            if let last, last.name == change.table {
                position = last.position
            } else {
                let table = try table(change.table)
                if let known = positions[table] {
                    position = known
                } else {
                    position = pending.count
                    positions[table] = position
                    pending.append(PendingTable(table: table))
                }
                last = (change.table, position)
            }
            let table = pending[position].table
            switch change {
            case .insert(_, let row):
                try checkArity(row, table: table, batch: &arity)
                if pending[position].full != nil {
                    pending[position].full!.insert(row)
                } else if pending[position].removed.remove(row) == nil, !context.publisher.contains(row, in: table) {
                    pending[position].added.insert(row)
                }
            case .delete(_, let row):
                if pending[position].full != nil {
                    pending[position].full!.remove(row)
                } else if pending[position].added.remove(row) == nil, context.publisher.contains(row, in: table) {
                    pending[position].removed.insert(row)
                }
            case .replace(_, let rows):
                guard rows.count <= rowLimit else {
                    throw BusError(.tooManyRows, "\(rows.count) rows; the limit is \(rowLimit) (--max-rows)")
                }
                for row in rows { try checkArity(row, table: table, batch: &arity) }
                pending[position].full = Set(rows)
                pending[position].added = []
                pending[position].removed = []
            }
        }
        for entry in pending {
            open(entry.table)
            openedBySubscribe.remove(entry.table)
            // Exact by construction: `added` holds rows not published yet, `removed` published ones.
            let (added, removed) = entry.full.map { context.publisher.difference(entry.table, replacingWith: $0) } ?? (Array(entry.added), Array(entry.removed))
            context.publish(TableDelta(table: entry.table, added: added, removed: removed))
        }
    }

    func handle(_ command: ControlCommand) throws(BusError) -> any ControlReplyBody {
        switch command {
        case .query(let text, let page):
            return ControlReply.Rows(rows(of: try queriedTable(text)), page: page)
        case .facts(let facts):
            try validate(facts.table)
            let changes: [FactChange] = switch facts.action {
            case .insert: facts.rows.map { .insert(table: facts.table.name, row: $0) }
            case .delete: facts.rows.map { .delete(table: facts.table.name, row: $0) }
            case .replace: [.replace(table: facts.table.name, rows: facts.rows)]
            }
            try apply(changes)
            return ControlReply.FactsApplied(seq: context.publisher.seq(facts.table) ?? 0)
        case .rules:
            throw BusError(.notSupported, "a data source has no rules")
        case .policyCreate, .policyDelete, .policyList:
            throw BusError(.notSupported, "a data source has no policies")
        case .simulate:
            throw BusError(.notSupported, "a data source has no rules to simulate")
        case .explain:
            // As before ops were typed: a data source has never known this one.
            throw BusError(.unknownOp, "unknown op 'explain'")
        case .hello, .subscribe, .unsubscribe, .renew, .snapshotChunk, .status, .tables:
            throw BusError(.internal, "op '\(command.op)' is the node's, not the data source's")
        }
    }

    var listedTables: [TableID] { context.publisher.openTables }
    func columns(of table: TableID) -> [String]? { context.publisher.snapshot(table)?.columns }
    func rows(of table: TableID) -> [Row] {
        guard let snapshot = context.publisher.snapshot(table) else { return [] }
        if let sorted, sorted.table == table, sorted.seq == snapshot.seq { return sorted.rows }
        let rows = snapshot.rows.sorted { $0.lexicographicallyPrecedes($1) }
        sorted = (table, snapshot.seq, rows)
        return rows
    }
    /// The published table a `query` names.
    func queriedTable(_ text: String) throws(BusError) -> TableID {
        let text = text.trimmingCharacters(in: " ")
        let table = try ControlRequest.tableID(text.contains(":") ? text : "\(context.name):\(text)", limits: context.limits)
        try validate(table)
        guard context.publisher.isOpen(table) else { throw BusError(.unknownTable, "no table \(table)") }
        return table
    }

    func sortFirst(for command: ControlCommand) -> QuerySort.Needed? {
        guard case .query(let text, _) = command, let table = try? queriedTable(text),
            let snapshot = context.publisher.snapshot(table), !SlicedSort.sortsInOneStep(snapshot.rows.count)
        else { return nil }
        if let sorted, sorted.table == table, sorted.seq == snapshot.seq { return nil }
        return .init(table: table, version: snapshot.seq, source: RowSource(snapshot.rows))
    }

    func answer(_ command: ControlCommand, sorted rows: [Row], version: AnyHashable) throws(BusError) -> any ControlReplyBody {
        guard case .query(let text, let page) = command, let seq = version as? UInt64 else { return try handle(command) }
        let table = try queriedTable(text)
        if context.publisher.seq(table) == seq { sorted = (table, seq, rows) }
        return ControlReply.Rows(rows, page: page)
    }

    func rowSource(of table: TableID) -> RowSource { RowSource(context.publisher.snapshot(table)?.rows ?? []) }
    func rowCount(of table: TableID) -> Int { context.publisher.snapshot(table)?.rows.count ?? 0 }
    func status(_ page: ControlCommand.Page) -> (any ControlReplyBody)? { nil }
    var policyEngine: Engine? { nil }
    func tick(now: UInt64) {}
    func shutdown() {}
}
