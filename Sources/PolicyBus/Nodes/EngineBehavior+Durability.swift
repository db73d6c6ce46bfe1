import Logging
import PolicyEngine
import PolicyStore

/// Durability of what the control API accepted: every rule and fact change is
/// appended to the data directory's `DurableLog` (fsync'd) before the reply
/// is sent, and replayed at start after the command-line policy files.
extension EngineBehavior {
    /// Opens the log in `directory` and replays it into the engine.
    /// A damaged tail is repaired by the log and reported here; a record the
    /// engine no longer accepts (say a policy file changed) is skipped with a
    /// warning. Neither stops the engine.
    /// - Throws: `BusError` `internal` when the directory cannot be used
    ///   (locked by another engine, unreadable).
    func openLog(_ directory: String, compactAbove: Int) throws(BusError) {
        let log: DurableLog
        let replayed: (records: [LogRecord], warnings: [LogWarning])
        do {
            log = try DurableLog(directory: directory)
            replayed = try log.replay()
        } catch {
            throw BusError(.internal, "data directory \(directory): \(error)")
        }
        for warning in replayed.warnings {
            logger.warning("data log repaired", metadata: ["data.dir": "\(directory)", "warning": "\(warning)"])
        }
        var skipped = 0
        for record in replayed.records {
            do {
                try apply(Self.transaction(record))
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
    /// Order: the engine validates and applies the change all-or-nothing
    /// (nothing changes if it is refused), but the deltas its triggers produce
    /// are held back; then the records are appended and fsync'd; only then are
    /// the held deltas published. If the append fails, `undo()` (computed from
    /// what really changed, so it restores exactly the state before) is
    /// applied and the held deltas are dropped: no subscriber ever sees a
    /// change that is not on disk. Applying before logging keeps a refused
    /// change out of the log without a second validation path.
    func applyDurably(_ transaction: Transaction, records: [LogRecord], node: Node, undo: () -> Transaction) throws(BusError) {
        guard let log = durability?.log, !records.isEmpty else { return try apply(transaction) }
        heldDeltas = []
        defer { heldDeltas = nil }
        try apply(transaction)
        do {
            try log.append(records)
        } catch {
            do {
                try apply(undo())
            } catch let undoError {
                // Not expected (the undo is exact); keep subscribers equal to the engine.
                publishHeldDeltas(node)
                throw BusError(.internal, "cannot make the change durable (\(error)), nor undo it: \(undoError)")
            }
            throw BusError(.internal, "cannot make the change durable, so it was undone: \(error)")
        }
        publishHeldDeltas(node)
    }

    private func publishHeldDeltas(_ node: Node) {
        guard let deltas = heldDeltas else { return }
        heldDeltas = nil
        for delta in deltas { node.send(node.publisher.publishExact(delta.table, added: delta.added, removed: delta.removed)) }
    }

    /// The exact undo of a `facts` request's net records.
    func factsUndo(_ records: [LogRecord]) -> Transaction {
        var undo = Transaction()
        for record in records.reversed() {
            switch record {
            case .insertFacts(let table, let rows): if let id = TableID(table) { for row in rows { undo.delete(row, from: id) } }
            case .deleteFacts(let table, let rows): if let id = TableID(table) { for row in rows { undo.insert(row, into: id) } }
            default: break
            }
        }
        return undo
    }

    /// The exact undo of a `rules insert|delete` of `text`, given the policy's
    /// rules and the text's facts as they were before it: it touches only the
    /// rules and facts that really came or went (never one that was there before).
    func rulesUndo(policy: String, rulesBefore: Set<String>, factsBefore: [Fact: Bool]) -> Transaction {
        var undo = Transaction()
        let rulesAfter = Set((try? engine.rules(in: policy)) ?? [])
        let added = rulesAfter.subtracting(rulesBefore).sorted()
        let removed = rulesBefore.subtracting(rulesAfter).sorted()
        if !added.isEmpty { undo.deleteRules(added.joined(separator: "\n"), policy: policy) }
        if !removed.isEmpty { undo.insertRules(removed.joined(separator: "\n"), policy: policy) }
        for (fact, was) in factsBefore where engine.containsFact(fact.values, in: fact.table) != was {
            if was { undo.insert(fact.values, into: fact.table) } else { undo.delete(fact.values, from: fact.table) }
        }
        return undo
    }

    /// The net records of a `facts` request, computed before it is applied:
    /// only rows whose fact state really changes, so that undoing them is
    /// exact. Decided by stored facts, not by `rows(of:)`: a fact that a rule
    /// also derives must still be logged, and undoing must never turn a
    /// derived row into a fact. Costs the request's rows, not the table's
    /// (a replace also visits the table's facts).
    func factRecords(action: String, table: TableID, rows: [Row]) -> [LogRecord] {
        let name = table.description
        let order: (Row, Row) -> Bool = { $0.lexicographicallyPrecedes($1) }
        var added: Set<Row> = []
        var removed: Set<Row> = []
        switch action {
        case "insert": added = Set(rows.filter { !engine.containsFact($0, in: table) })
        case "delete": removed = Set(rows.filter { engine.containsFact($0, in: table) })
        default:
            added = Set(rows.filter { !engine.containsFact($0, in: table) })
            let wanted = Set(rows)
            engine.forEachFact(of: table) { if !wanted.contains($0) { removed.insert($0) } }
        }
        var records: [LogRecord] = []
        if !removed.isEmpty { records.append(.deleteFacts(table: name, rows: removed.sorted(by: order))) }
        if !added.isEmpty { records.append(.insertFacts(table: name, rows: added.sorted(by: order))) }
        return records
    }

    var durabilityStatus: JSON {
        guard let durability else { return .null }
        return .object([
            "dir": .string(durability.log.directory), "records": .int(Int64(durability.log.recordCount)),
            "replayed": .int(Int64(durability.replayed)), "skipped": .int(Int64(durability.skipped)),
            "warnings": .array(durability.warnings.map(JSON.string)),
        ])
    }

    static func transaction(_ record: LogRecord) -> Transaction {
        var transaction = Transaction()
        switch record {
        case .createPolicy:
            break  // policies come from the command line; see `replay`.
        case .insertRules(let policy, let text): transaction.insertRules(text, policy: policy)
        case .deleteRules(let policy, let text): transaction.deleteRules(text, policy: policy)
        case .insertFacts(let table, let rows):
            if let id = TableID(table) { for row in rows { transaction.insert(row, into: id) } }
        case .deleteFacts(let table, let rows):
            if let id = TableID(table) { for row in rows { transaction.delete(row, from: id) } }
        }
        return transaction
    }

    static func inverse(_ record: LogRecord) -> LogRecord {
        switch record {
        case .createPolicy: record
        case .insertRules(let policy, let text): .deleteRules(policy: policy, text: text)
        case .deleteRules(let policy, let text): .insertRules(policy: policy, text: text)
        case .insertFacts(let table, let rows): .deleteFacts(table: table, rows: rows)
        case .deleteFacts(let table, let rows): .insertFacts(table: table, rows: rows)
        }
    }
}
