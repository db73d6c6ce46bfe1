import Logging
import PolicyEngine
import PolicyStore
import ZeroMQ

/// A policy engine on the bus.
///
/// Triggers follow subscriptions: the first subscriber of a table installs an
/// engine trigger that publishes the table's deltas; the last unsubscribe (or
/// lease expiry) removes it. The engine subscribes, at its peers, to the
/// remote tables its rules read, and applies their snapshots and deltas as
/// transactions.
final class EngineBehavior: NodeBehavior {
    let kind = "engine"
    let engine: Engine
    var triggers: [TableID: TriggerID] = [:]
    /// One connection per peer service, on the node's loop.
    var peers: [(service: String, connection: SubscriptionConnection)] = []
    /// Remote tables subscribed at a peer.
    var remote: Set<TableID> = []
    /// Remote tables no peer serves (logged once), or refused; retried later.
    var unavailable: [TableID: UInt64] = [:]
    let context: NodeContext
    /// The data log, once opened (see `EngineBehavior+Durability.swift`).
    var durability: Durability?
    /// The last handshake failure logged per peer service.
    var peerHandshakeFailures: [String: String] = [:]
    /// Each peer table's health, for its logs and readiness (`EngineBehavior+PeerHealth.swift`).
    var peerHealth: [TableID: PeerTableHealth] = [:]
    /// Peer tables that have had a snapshot since the engine started: the
    /// tables reading only these are complete (`EngineBehavior+PeerHealth.swift`).
    var syncedOnce: Set<TableID> = []
    /// When each peer table waiting for a snapshot started waiting: the
    /// log says how long its sync took (`EngineBehavior+PeerHealth.swift`).
    var syncStarted: [TableID: UInt64] = [:]
    private(set) var syncWaitMilliseconds = 10_000
    /// What one transaction of peers' data may derive (`EngineBehavior+PeerBudget.swift`).
    private(set) var peerBudget = TransactionBudget.peer
    /// Peer tables whose data went over `peerBudget` and was rolled back
    /// (`EngineBehavior+PeerBudget.swift`): their rows here are out of date.
    var overBudget: [TableID: PeerOverBudget] = [:]

    init(engine: Engine, context: NodeContext) {
        self.engine = engine
        self.context = context
    }

    var logger: Logger { context.logger }

    // MARK: - Subscriptions to this engine

    func validate(_ table: TableID) throws(BusError) {
        guard engine.policies.contains(table.service) else {
            throw BusError(.unknownPolicy, "there is no policy '\(table.service)' at engine \(context.name)")
        }
    }

    func open(_ table: TableID) {
        guard triggers[table] == nil else { return }
        // Triggers fire at the engine's commit, after a control change is on disk.
        triggers[table] = engine.addTrigger(on: table) { [context] delta in context.publish(delta) }
        // The engine keeps the rows; the publisher keeps the seq and encodes.
        context.openExternal(table, columns: engine.columns(of: table))
        context.monitor.triggers(triggers.count)
        logger.debug("trigger added", metadata: ["table": "\(table)"])
    }

    func close(_ tables: [TableID]) {
        // One pass over the engine's triggers for all of them: 12,288 removed
        // one at a time (12 clients of 1024 tables whose leases ended) held
        // the loop 12 s in a debug build.
        var removed: Set<TriggerID> = []
        for table in tables {
            guard let trigger = triggers.removeValue(forKey: table) else { continue }
            removed.insert(trigger)
            context.close(table)
            logger.debug("trigger removed", metadata: ["table": "\(table)"])
        }
        guard !removed.isEmpty else { return }
        engine.removeTriggers(removed)
        context.monitor.triggers(triggers.count)
    }

    // MARK: - Requests

    func handle(_ command: ControlCommand) throws(BusError) -> any ControlReplyBody {
        switch command {
        case .query(let text, let page):
            return ControlReply.Rows(try query(text), page: page)
        case .rules(.list(let policy)):
            do {
                return ControlReply.RuleList(rules: try engine.ruleEntries(in: policy))
            } catch {
                throw BusError(error)
            }
        case .rules(.insert(let policy, let text)), .rules(.delete(let policy, let text)):
            guard engine.policies.contains(policy) else {
                throw BusError(.unknownPolicy, "there is no policy '\(policy)'")
            }
            var transaction = Transaction()
            let record: LogRecord
            if case .rules(.insert) = command {
                transaction.insertRules(text, policy: policy)
                record = .insertRules(policy: policy, text: text)
            } else {
                transaction.deleteRules(text, policy: policy)
                record = .deleteRules(policy: policy, text: text)
            }
            try applyDurably(transaction, records: [record])
            updateRemote(now: monotonicNanoseconds())
            return ControlReply.Done()
        case .facts(let facts):
            try checkWritable(facts.table)
            var transaction = Transaction()
            transaction.add(facts)
            try applyDurably(transaction, records: factRecords(facts))
            return ControlReply.Done()
        case .explain(let query, let all):
            do {
                let limits = ExplainLimits(milliseconds: context.limits.maxRequestMilliseconds)
                return ControlReply.Explanations(explanations: try engine.explain(query, all: all, limits: limits))
            } catch {
                throw BusError(error)
            }
        case .policyCreate(let name, let rules):
            try createPolicy(name, rules: rules)
            return ControlReply.Done()
        case .policyDelete(let name):
            try deletePolicy(name)
            return ControlReply.Done()
        case .simulate(let changes, let tables):
            return ControlReply.Simulated(deltas: try simulate(changes, tables: tables))
        case .policyList:
            return ControlReply.PolicyList(policies: engine.policies.map { ($0, (try? engine.rules(in: $0).count) ?? 0) })
        case .hello, .subscribe, .unsubscribe, .renew, .snapshotChunk, .status, .tables:
            throw BusError(.internal, "op '\(command.op)' is the node's, not the engine's")
        }
    }

    /// Facts go into the tables of the engine's policies only. A peer's
    /// table is the peer's (a write would diverge from it until the next
    /// resync); any other service is unknown here.
    func checkWritable(_ table: TableID) throws(BusError) {
        if engine.policies.contains(table.service) { return }
        if peers.contains(where: { $0.service == table.service }) {
            throw BusError(.readOnlyTable, "\(table) is published by the peer '\(table.service)'; write it there")
        }
        throw BusError(.unknownTable, "engine \(context.name) has no policy '\(table.service)' and no peer serves it; facts go into a policy's tables")
    }

    /// Applies a change; a control request gives its budget, trusted input (a replay) none.
    func apply(_ transaction: Transaction, budget: TransactionBudget = .unlimited) throws(BusError) {
        do {
            try timed { () throws(PolicyError) in _ = try engine.apply(transaction, budget: budget) }
        } catch {
            throw BusError(error)
        }
    }

    /// Fact changes from the node's owner are a data source's.
    func apply(_ changes: [FactChange]) throws(BusError) {
        throw BusError(.notSupported, "not a data source")
    }

    var listedTables: [TableID] {
        Set(engine.tables).union(context.publisher.openTables)
            .filter { engine.policies.contains($0.service) || engine.columns(of: $0) != nil || remote.contains($0) }
            .sorted()
    }

    func columns(of table: TableID) -> [String]? { engine.columns(of: table) }
    var policyEngine: Engine? { engine }

    /// Evaluates `table`, `table(args)` or `table(col=x)` against the engine's contents.
    /// A peer table the rules read that has no rows yet is empty. A table of
    /// a policy that no rule defines or reads is `unknown-table`: a query
    /// cannot wait for rules, and 0 rows would hide a misspelt name.
    func query(_ text: String, sorted: (table: TableID, rows: [Row])? = nil) throws(BusError) -> [Row] {
        do {
            return try engine.query(text, sorted: sorted)
        } catch {
            guard error.code == .unknownTable, let syntax = try? PolicyParser.parseQuery(text, defaultPolicy: nil) else {
                throw BusError(error)
            }
            if remote.contains(syntax.table) { return [] }
            if engine.policies.contains(syntax.table.service) {
                throw BusError(.unknownTable, "no rule of policy '\(syntax.table.service)' at engine \(context.name) defines or reads \(syntax.table)")
            }
            throw BusError(error)
        }
    }

    func rows(of table: TableID) -> [Row] { engine.rows(of: table) }
    func rowSource(of table: TableID) -> RowSource { RowSource(engine.frozenRows(of: table)) }

    func sortFirst(for command: ControlCommand) -> QuerySort.Needed? {
        guard case .query(let text, _) = command, let table = engine.queriedTable(text),
            !SlicedSort.sortsInOneStep(engine.count(of: table)), !engine.hasSortedRows(of: table)
        else { return nil }
        let frozen = engine.frozenRows(of: table)
        return .init(table: table, version: frozen.version, source: RowSource(frozen))
    }

    func answer(_ command: ControlCommand, sorted rows: [Row], version: AnyHashable) throws(BusError) -> any ControlReplyBody {
        guard case .query(let text, let page) = command, let version = version as? TableVersion, let table = engine.queriedTable(text) else {
            return try handle(command)
        }
        engine.keepSorted(rows, at: version)
        return ControlReply.Rows(try query(text, sorted: (table, rows)), page: page)
    }
    func rowCount(of table: TableID) -> Int { engine.count(of: table) }

    func status(_ page: ControlCommand.Page) -> (any ControlReplyBody)? {
        var remote: [TableID: ControlReply.EngineStatus.RemoteTable] = [:]
        for (_, connection) in peers {
            for (table, subscription) in connection.session.subscriptions {
                remote[table] = .init(synced: subscription.isSynced, seq: subscription.seq, rows: subscription.rows.count)
            }
        }
        let (triggers, triggersMore) = page.slice(engine.triggers.map(\.table).sorted(), defaultLimit: ControlCommand.Page.statusLimit)
        return ControlReply.EngineStatus(
            triggers: Array(triggers), triggersMore: triggersMore, policies: engine.policies, remote: remote,
            durability: durabilityStatus)
    }

    // MARK: - Peers

    /// Subscribes to the remote tables the rules read now, and unsubscribes
    /// from those they no longer read.
    func updateRemote(now: UInt64) {
        let wanted = engine.remoteTables
        for table in wanted.subtracting(remote).sorted() {
            if let retry = unavailable[table], retry > now { continue }
            guard let connection = peers.first(where: { $0.service == table.service })?.connection else {
                if unavailable[table] == nil {
                    logger.warning("no peer serves this table; give --peer \(table.service)=ENDPOINT", metadata: ["table": "\(table)"])
                    peerTableUnavailable(table, reason: "no peer serves \(table.service); give --peer \(table.service)=ENDPOINT")
                }
                unavailable[table] = now + .milliseconds(5000)
                continue
            }
            unavailable[table] = nil
            remote.insert(table)
            peerTableWanted(table)
            connection.subscribe([table])
        }
        // A table no peer served that the rules no longer read (its rule was
        // deleted, or its service became a policy here) is no reason to wait.
        for table in Set(unavailable.keys).subtracting(wanted).sorted() {
            unavailable[table] = nil
            peerTableDropped(table)
        }
        for table in remote.subtracting(wanted).sorted() {
            remote.remove(table)
            peerTableDropped(table)
            peers.first(where: { $0.service == table.service })?.connection.unsubscribe([table])
            var transaction = Transaction()
            transaction.replace(table, with: [])
            try? apply(transaction)
        }
    }

    func tick(now: UInt64) {
        recordPeerLag()
        reportPeerHandshakes()
        retryOverBudget(now: now)
        if !unavailable.isEmpty { updateRemote(now: now) }
    }

    /// Applies peers' snapshots and deltas, within `peerBudget`; one
    /// transaction per batch when possible. A table over the budget before
    /// waits to take the peer's rows whole (`EngineBehavior+PeerBudget.swift`).
    func handle(_ events: [SubscriptionSession.Event]) {
        var transaction = Transaction()
        var single: [(table: TableID?, change: Transaction)] = []
        for event in events {
            var one = Transaction()
            if case .table(let table, let change) = event { peerTableChanged(table, change) }
            switch event {
            case .table(let table, _) where overBudget[table] != nil:
                continue
            case .table(let table, .snapshot(let rows, _)):
                // The set itself, shared: an array of it would copy a
                // million rows in one step, and release them in another.
                one.replace(table, with: rows)
                transaction.replace(table, with: rows)
            case .table(let table, .delta(let added, let removed, _)):
                for row in removed {
                    one.delete(row, from: table)
                    transaction.delete(row, from: table)
                }
                for row in added {
                    one.insert(row, into: table)
                    transaction.insert(row, into: table)
                }
            case .table(_, .resync), .table(_, .resumed):
                continue
            case .columns(let table, let columns):
                if let columns, engine.columns(of: table) != columns { engine.declareColumns(columns, for: table) }
                continue
            case .failed(let table, let error):
                logger.warning("peer refused a subscription", metadata: ["table": "\(table)", "error": "\(error)"])
                peerTableUnavailable(table, reason: "refused by the peer: \(error)")
                remote.remove(table)
                unavailable[table] = monotonicNanoseconds() + .milliseconds(2000)
                continue
            }
            if case .table(let table, _) = event { single.append((table, one)) } else { single.append((nil, one)) }
        }
        guard !transaction.isEmpty else { return }
        let start = monotonicNanoseconds()
        do {
            // `load`: the deltas go to the triggers only (a snapshot's rows
            // would otherwise be turned into values once more, for nobody).
            try timed { () throws(PolicyError) in try engine.load(transaction, budget: peerBudget) }
        } catch {
            // Stopped midway (`Engine.pause`): the node is stopping.
            if context.loop.isStopping { return }
            // One table's change over the budget: applied alone it would be again.
            let tables = Set(single.compactMap(\.table))
            if error.code == .tooExpensive, tables.count == 1, single.allSatisfy({ $0.table != nil }), let table = tables.first {
                return peerTableOverBudget(table, error, tookNanoseconds: monotonicNanoseconds() - start)
            }
            applyOneByOne(single)
        }
    }

    /// The peers' data messages are read into their connections, to be
    /// applied, in order, after the transaction under way.
    func readWhileBusy() {
        for (_, connection) in peers { connection.readWhileBusy() }
    }

    func shutdown() {
        for (_, connection) in peers {
            connection.unsubscribeAll(timeoutMilliseconds: 200)
            connection.close()
        }
    }

    // MARK: - Start

    /// Learns peers' column names (bounded retry), then loads the policies.
    func start(_ setup: EngineSetup) throws(BusError) {
        syncWaitMilliseconds = setup.syncWaitMilliseconds
        peerBudget = setup.peerBudget
        for (service, endpoint) in setup.peers.sorted(by: { $0.key < $1.key }) {
            // The epoch makes the id unique; the name, cut short, keeps it
            // within the peers' client id limit (128 bytes by default).
            let connection = try SubscriptionConnection(
                loop: context.loop, context: context.zmq, controlEndpoint: endpoint,
                clientID: "engine-\(context.name.prefix(64))-\(context.publisher.epoch)", logger: logger, curve: setup.peerCurve[service])
            connection.onEvents = { [unowned self] events in handle(events) }
            peers.append((service, connection))
            learnColumns(
                service: service, endpoint: endpoint, budgetMilliseconds: setup.peerStartupMilliseconds,
                curve: setup.peerCurve[service])
        }
        for (name, text) in setup.policies {
            do {
                try engine.createPolicy(name)
                guard text.contains(where: { !$0.isWhitespace }) else { continue }
                var transaction = Transaction()
                transaction.insertRules(text, policy: name)
                try engine.apply(transaction)
            } catch {
                throw BusError(error)
            }
        }
        if let directory = setup.dataDirectory { try openLog(directory, compactAbove: setup.compactLogAbove) }
        // Requests from here on: the node's own policies and log were trusted.
        engine.maxTableNameLength = context.limits.maxTableNameLength
        updateRemote(now: monotonicNanoseconds())
    }

    func learnColumns(service: String, endpoint: String, budgetMilliseconds: Int, curve: CurveClientConfiguration?) {
        let deadline = monotonicNanoseconds() + .milliseconds(budgetMilliseconds)
        guard let client = try? ControlClient(context: context.zmq, endpoint: endpoint, timeoutMilliseconds: 500, curve: curve) else { return }
        defer { client.close() }
        while monotonicNanoseconds() < deadline {
            guard let reply = try? client.request(.tables(.first)) else { continue }
            for table in reply["tables"]?.arrayValue ?? [] {
                guard let name = table["name"]?.stringValue, let id = TableID(name),
                    let columns = table["columns"]?.arrayValue?.compactMap(\.stringValue)
                else { continue }
                engine.declareColumns(columns, for: id)
            }
            return
        }
        logger.warning("peer did not answer; starting without its column names", metadata: ["peer": "\(service)", "endpoint": "\(endpoint)"])
    }
}

extension Transaction {
    /// The operations of a `facts` request.
    mutating func add(_ facts: ControlCommand.Facts) {
        var pauses = PausePoints(nil)
        add(facts, pausing: &pauses)
    }

    /// The operations of a `facts` request, with a pause point at each row.
    mutating func add(_ facts: ControlCommand.Facts, pausing pauses: inout PausePoints) {
        switch facts.action {
        case .insert:
            for row in facts.rows {
                pauses.tick()
                insert(row, into: facts.table)
            }
        case .delete:
            for row in facts.rows {
                pauses.tick()
                delete(row, from: facts.table)
            }
        case .replace: replace(facts.table, with: facts.rows)
        }
    }
}
