import Logging
import PolicyEngine
import PolicyStore

/// Durability of what the control API accepted: every rule, fact and policy change is
/// appended to the data directory's `DurableLog` (fsync'd) before the reply
/// is sent, and replayed at start after the command-line policy files.
extension EngineBehavior {
    /// Opens the log in `directory` and replays it into the engine.
    /// A damaged tail is repaired by the log and reported here; a record the
    /// engine no longer accepts (say a policy file changed) is skipped with a
    /// warning. Neither stops the engine.
    /// - Throws: `BusError` with the store's code when the directory cannot
    ///   be used (`locked` by another engine, `not-a-log`, `io`).
    func openLog(_ directory: String, compactAbove: Int) throws(BusError) {
        let log: DurableLog
        let replayed: (records: [LogRecord], warnings: [LogWarning])
        context.monitor.health.fail(.durableLog, "replaying \(directory)")
        defer { context.monitor.health.pass(.durableLog) }
        do {
            log = try DurableLog(directory: directory)
            replayed = try log.replay()
        } catch let error as StoreError {
            // The store's own code (not-a-log, locked, io...): the message says the way out.
            throw BusError(BusError.Code(rawValue: error.code.rawValue), "data directory \(directory): \(error.message)")
        } catch {
            throw BusError(.internal, "data directory \(directory): \(error)")
        }
        for warning in replayed.warnings {
            logger.warning("data log repaired", metadata: ["data.dir": "\(directory)", "warning": "\(warning)"])
        }
        var skipped = 0
        for record in replayed.records {
            do {
                // Logs of earlier versions may hold facts for a peer's or an unknown service's table.
                if let table = record.factTable { try checkWritable(table) }
                try replay(record)
            } catch {
                skipped += 1
                logger.warning("data log record not applied", metadata: ["record": "\(record)", "error": "\(error)"])
            }
        }
        if replayed.records.count > compactAbove {
            // Churn (insert, delete, insert...) would otherwise make every start slower.
            do {
                let (before, after) = try log.compact()
                logger.info("data log compacted", metadata: ["before": "\(before)", "after": "\(after)"])
            } catch {
                logger.warning("data log not compacted", metadata: ["error": "\(error)"])
            }
        }
        durability = Durability(log: log, replayed: replayed.records.count, skipped: skipped, warnings: replayed.warnings.map(\.description))
        logger.info(
            "data log replayed",
            metadata: ["data.dir": "\(directory)", "records": "\(replayed.records.count)", "skipped": "\(skipped)"])
    }

    /// Applies a change from the control API and makes it durable before
    /// returning, so a reply of success always means "on disk".
    ///
    /// The engine validates the change and maintains its tables within the
    /// request budget first (a refused change is never logged), then the hook
    /// appends `records` and fsyncs, and only then does the engine fire its
    /// triggers. If the append fails, the engine rolls the change back, and no
    /// subscriber saw anything.
    func applyDurably(_ transaction: Transaction, records: [LogRecord]) throws(BusError) {
        let budget = context.limits.transactionBudget
        guard let log = durability?.log, !records.isEmpty else { return try apply(transaction, budget: budget) }
        do {
            try timed { () throws in _ = try engine.apply(transaction, budget: budget) { try log.append(records) } }
        } catch let error as PolicyError {
            throw BusError(error)
        } catch {
            throw BusError(.internal, "cannot make the change durable, so nothing changed: \(error)")
        }
    }

    /// The net records of a `facts` request, computed before it is applied:
    /// only rows whose fact state really changes, so the log holds no
    /// no-ops. Decided by stored facts, not by `rows(of:)`: a fact that a
    /// rule also derives must still be logged. A replace is logged as the
    /// deletes and inserts it makes, the log having no replace record. Costs
    /// the request's rows, not the table's (a replace also visits the table's facts).
    func factRecords(_ facts: ControlCommand.Facts) -> [LogRecord] {
        let table = facts.table
        let order: (Row, Row) -> Bool = { $0.lexicographicallyPrecedes($1) }
        var added: Set<Row> = []
        var removed: Set<Row> = []
        switch facts.action {
        case .insert: added = Set(facts.rows.filter { !engine.containsFact($0, in: table) })
        case .delete: removed = Set(facts.rows.filter { engine.containsFact($0, in: table) })
        case .replace:
            added = Set(facts.rows.filter { !engine.containsFact($0, in: table) })
            let wanted = Set(facts.rows)
            engine.forEachFact(of: table) { if !wanted.contains($0) { removed.insert($0) } }
        }
        var records: [LogRecord] = []
        if !removed.isEmpty { records.append(.deleteFacts(table: table.description, rows: removed.sorted(by: order))) }
        if !added.isEmpty { records.append(.insertFacts(table: table.description, rows: added.sorted(by: order))) }
        return records
    }

    var durabilityStatus: ControlReply.EngineStatus.Durability? {
        durability.map { durability in
            .init(
                directory: durability.log.directory, records: durability.log.recordCount, replayed: durability.replayed,
                skipped: durability.skipped, warnings: durability.warnings)
        }
    }

    /// Applies one replayed record. A policy's creation and deletion are
    /// idempotent here: a compacted log deletes policies that may not exist
    /// (it does not know the command line), and a deletion is not refused for
    /// the rules that read the policy, since later records may delete them.
    func replay(_ record: LogRecord) throws(BusError) {
        switch record {
        case .createPolicy(let name):
            do { try engine.createPolicy(name) } catch { throw BusError(error) }
        case .deletePolicy(let name):
            guard engine.policies.contains(name) else { return }
            do {
                try timed { () throws in try engine.deletePolicy(name) }
            } catch {
                throw BusError(.internal, "\(error)")
            }
        case .insertRules, .deleteRules, .insertFacts, .deleteFacts:
            try apply(Self.transaction(record))
        }
    }

    static func transaction(_ record: LogRecord) -> Transaction {
        var transaction = Transaction()
        switch record {
        case .createPolicy, .deletePolicy:
            break  // not transactions: see `replay(_:)`.
        case .insertRules(let policy, let text): transaction.insertRules(text, policy: policy)
        case .deleteRules(let policy, let text): transaction.deleteRules(text, policy: policy)
        case .insertFacts(let table, let rows):
            if let id = TableID(table) { for row in rows { transaction.insert(row, into: id) } }
        case .deleteFacts(let table, let rows):
            if let id = TableID(table) { for row in rows { transaction.delete(row, from: id) } }
        }
        return transaction
    }
}

extension LogRecord {
    /// The table a fact record writes, if it is one and names a valid table.
    var factTable: TableID? {
        switch self {
        case .insertFacts(let table, _), .deleteFacts(let table, _): TableID(table)
        case .createPolicy, .deletePolicy, .insertRules, .deleteRules: nil
        }
    }
}
