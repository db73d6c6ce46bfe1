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
    /// Changes being applied a step at a time, oldest first (`stepChange`).
    var queuedChanges: [QueuedChange] = []
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

    /// Applies one transaction: each table it touches gets one delta.
    /// All-or-nothing: a bad row rejects the whole transaction. Inserts and
    /// deletes cost in proportion to the rows they touch, not the table's size.
    /// While changes are queued (`queueChange`), it waits behind them, and
    /// its refusal, if any, is logged.
    /// - Parameter rowLimit: the most rows one `replace` may hold: the
    ///   request limit, but none for the facts file read at start (the
    ///   operator's, loaded before anyone is served).
    func apply(_ changes: [FactChange], rowLimit: Int) throws(BusError) {
        let transaction = FactsTransaction(changes, rowLimit: rowLimit)
        guard queuedChanges.isEmpty else {
            queuedChanges.append(QueuedChange(transaction: transaction, reply: nil))
            return
        }
        try apply(transaction)
    }

    func apply(_ changes: [FactChange]) throws(BusError) {
        try apply(changes, rowLimit: context.limits.maxRowsPerRequest)
    }

    /// Works a transaction out whole and publishes it, counting its rows as accepted or rejected.
    private func apply(_ transaction: FactsTransaction) throws(BusError) {
        var transaction = transaction
        do {
            while !transaction.isDone { try transaction.step(rows: .max, source: self) }
        } catch {
            context.monitor.facts(rejected: transaction.rowCount)
            throw error
        }
        publish(transaction)
    }

    /// Publishes a worked-out transaction: one delta per table it changed.
    func publish(_ transaction: FactsTransaction) {
        for entry in transaction.pending {
            open(entry.table)
            openedBySubscribe.remove(entry.table)
            // Exact by construction: `added` holds rows not published yet, `removed` published ones.
            context.publish(TableDelta(table: entry.table, added: Array(entry.added), removed: Array(entry.removed)))
        }
        context.monitor.facts(accepted: transaction.rowCount)
    }

    // MARK: - Changes a step at a time

    /// A change applied a step at a time, and who waits for it: a client's
    /// `facts` reply, or nobody (a change from the node's owner).
    struct QueuedChange {
        var transaction: FactsTransaction
        let reply: ((Result<any ControlReplyBody, BusError>) -> Void)?
        var table: TableID?
        /// Once the transaction is worked out: its deltas, being staged.
        var staging: [StagedDelta]?
    }

    /// Queues a `facts` request of more rows than one step works through,
    /// and any `facts` while others are queued, so that changes keep their
    /// order and each is worked out against the rows the earlier ones left.
    func queueChange(_ command: ControlCommand, reply: @escaping (Result<any ControlReplyBody, BusError>) -> Void) -> Bool {
        guard case .facts(let facts) = command, !queuedChanges.isEmpty || facts.rows.count > FactsTransaction.rowsPerStep else { return false }
        let part = FactsTransaction.Part(table: facts.table.name, action: facts.action.part, rows: facts.rows)
        let transaction = FactsTransaction([part], rowLimit: context.limits.maxRowsPerRequest)
        queuedChanges.append(QueuedChange(transaction: transaction, reply: reply, table: facts.table))
        return true
    }

    var hasChangeSteps: Bool { !queuedChanges.isEmpty }

    /// One step of the oldest queued change: some of its rows worked out;
    /// once they all are, its deltas made; then some of their rows staged
    /// in the publisher; once all are, its publishing (then its reply goes).
    func stepChange() {
        guard !queuedChanges.isEmpty else { return }
        // Stepped in place: a copy of the change would make each step copy its sets.
        guard queuedChanges[0].staging != nil else {
            if queuedChanges[0].transaction.isDone {
                queuedChanges[0].staging = stage(queuedChanges[0].transaction)
            } else {
                workOut()
            }
            return
        }
        if let next = queuedChanges[0].staging!.firstIndex(where: { !$0.isStaged }) {
            queuedChanges[0].staging![next].step(rows: FactsTransaction.rowsPerStep, context: context)
            return
        }
        let change = queuedChanges.removeFirst()
        for staged in change.staging! {
            context.publish(TableDelta(table: staged.table, added: staged.added, removed: staged.removed), stagedTail: staged.tail.bytes)
        }
        context.monitor.facts(accepted: change.transaction.rowCount)
        change.reply?(.success(ControlReply.FactsApplied(seq: change.table.flatMap { context.publisher.seq($0) } ?? 0)))
    }

    /// Whether the oldest queued change is being staged: the published
    /// rows are half changed, so no request may read them.
    var changeHoldsRequests: Bool { queuedChanges.first?.staging != nil }

    /// Works out some rows of the oldest queued change; refuses it (with
    /// nothing published) at its first bad row.
    private func workOut() {
        do {
            if let table = queuedChanges[0].table { try validate(table) }
            try queuedChanges[0].transaction.step(rows: FactsTransaction.rowsPerStep, source: self)
        } catch {
            let change = queuedChanges.removeFirst()
            context.monitor.facts(rejected: change.transaction.rowCount)
            if let reply = change.reply {
                reply(.failure(error))
            } else {
                context.logger.warning("facts rejected", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The deltas of a worked-out transaction, to be staged, with their
    /// tables opened (and the source's own from now on).
    private func stage(_ transaction: FactsTransaction) -> [StagedDelta] {
        transaction.pending.compactMap { entry in
            open(entry.table)
            openedBySubscribe.remove(entry.table)
            guard !entry.added.isEmpty || !entry.removed.isEmpty else { return nil }
            return StagedDelta(table: entry.table, added: Array(entry.added), removed: Array(entry.removed))
        }
    }

    func handle(_ command: ControlCommand) throws(BusError) -> any ControlReplyBody {
        switch command {
        case .query(let text, let page):
            return ControlReply.Rows(rows(of: try queriedTable(text)), page: page)
        case .facts(let facts):
            try validate(facts.table)
            let part = FactsTransaction.Part(table: facts.table.name, action: facts.action.part, rows: facts.rows)
            try apply(FactsTransaction([part], rowLimit: context.limits.maxRowsPerRequest))
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

extension ControlCommand.Facts.Action {
    /// The transaction part of a `facts` request of this action.
    var part: FactsTransaction.Part.Action {
        switch self {
        case .insert: .insert
        case .delete: .delete
        case .replace: .replace
        }
    }
}
