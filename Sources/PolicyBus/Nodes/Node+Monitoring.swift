import Logging
import Monitoring
import PolicyEngine

/// The node's hooks into its `NodeMonitor` and its logs of requests: what
/// `/metrics`, `/readyz` and `status` report, and the audit trail.
extension Node {
    /// The reply to a refused request: counted by op and code, and logged at
    /// info with its code.
    /// - Parameter op: the request's op; nil when the frame had none.
    func refuse(op: String?, id: JSON?, _ error: BusError, client: ClientIdentity? = nil) -> [UInt8] {
        counters["errors", default: 0] += 1
        monitor.request(op: op ?? "other", code: error.code.rawValue)
        var metadata: Logger.Metadata = ["op": "\(op ?? "-")", "code": "\(error.code)", "error": "\(error.message)"]
        if let client { metadata["client.id"] = "\(client.id)" }
        logger.info("request refused", metadata: metadata)
        return ControlReply.error(id: id, error)
    }

    /// Counts an accepted request, its snapshots, and writes the audit record
    /// of a rule or fact change (at notice: operators keep it).
    func accepted(_ command: ControlCommand, reply: [UInt8], client: ClientIdentity) {
        monitor.request(op: command.op, code: "ok")
        var audit: Logger.Metadata
        switch command {
        case .subscribe(let tables, _):
            monitor.snapshotSent(count: tables.count, bytes: reply.count)
            return
        case .snapshotChunk:
            monitor.snapshotSent(count: 0, bytes: reply.count)
            return
        case .rules(.insert(let policy, let text)):
            audit = ["op": "rules insert", "policy": "\(policy)", "rule": "\(text)"]
        case .rules(.delete(let policy, let text)):
            audit = ["op": "rules delete", "policy": "\(policy)", "rule": "\(text)"]
        case .facts(let facts):
            audit = ["op": "facts \(facts.action.rawValue)", "table": "\(facts.table)", "rows": "\(facts.rows.count)"]
        case .policyCreate(let name, let rules):
            audit = ["op": "policy create", "policy": "\(name)"]
            if let rules { audit["rule"] = "\(rules)" }
        case .policyDelete(let name):
            audit = ["op": "policy delete", "policy": "\(name)"]
        default:
            return
        }
        audit["client.id"] = "\(client.id)"
        if let key = client.key { audit["client.key"] = "\(key)" }
        logger.notice("audit", metadata: audit)
    }

    /// The subscription gauge, after the registry changed.
    func subscriptionsChanged() {
        monitor.subscriptions(registry.subscribers.values.reduce(0) { $0 + $1.count })
    }

    /// Refreshes the rows gauge of every table the node lists, once a second:
    /// counts the node keeps anyway, read on its own thread.
    func refreshGauges(now: UInt64) {
        guard now >= nextGaugeRefresh else { return }
        nextGaugeRefresh = now + .milliseconds(1000)
        for table in behavior.listedTables { monitor.rows(of: table.description, count: behavior.rowCount(of: table)) }
        monitor.loopLongestStall(nanoseconds: loop.longestTurnNanoseconds)
        monitor.memory(heapBytes: ProcessMemory.liveHeapBytes, residentBytes: ProcessMemory.residentBytes)
    }

    /// Closes the tables that lost their last subscriber; their state goes.
    func close(_ tables: [TableID]) {
        behavior.close(tables)
        if !tables.isEmpty { memoryFreed() }
    }

    /// Big state went (clients' leases, closed tables): the allocator is
    /// trimmed at the next tick, so that the resident set follows the heap down.
    func memoryFreed() {
        trimDue = true
    }

    /// Trims the allocator when state went, at most once a second: a trim
    /// walks every arena, and churning clients would otherwise trim at every tick.
    func trimMemory(now: UInt64) {
        guard trimDue, now >= nextTrim else { return }
        trimDue = false
        nextTrim = now + .milliseconds(1000)
        ProcessMemory.trim()
        counters["memory_trims", default: 0] += 1
    }
}
