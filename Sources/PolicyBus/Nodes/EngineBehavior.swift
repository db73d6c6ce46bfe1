import Logging
import PolicyEngine
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
    /// One session per peer service.
    var sessions: [(service: String, session: SubscriptionSession)] = []
    /// Remote tables subscribed at a peer.
    var remote: Set<TableID> = []
    /// Remote tables no peer serves (logged once), or refused; retried later.
    var unavailable: [TableID: UInt64] = [:]
    let logger: Logger
    /// The data log, once opened (see `EngineNode+Durability.swift`).
    var durability: Durability?
    /// The last handshake failure logged per peer service.
    var peerHandshakeFailures: [String: String] = [:]
    /// Trigger deltas held back while a control change waits for its fsync (see `applyDurably`).
    var heldDeltas: [TableDelta]?

    init(engine: Engine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    var sockets: [Socket] { sessions.flatMap { $0.session.sockets } }

    // MARK: - Subscriptions to this engine

    func validate(_ table: TableID, node: Node) throws(BusError) {
        guard engine.policies.contains(table.service) else {
            throw BusError(.unknownPolicy, "there is no policy '\(table.service)' at engine \(node.options.name)")
        }
    }

    func open(_ table: TableID, node: Node) {
        guard triggers[table] == nil else { return }
        triggers[table] = engine.addTrigger(on: table) { [unowned self, unowned node] delta in
            if heldDeltas != nil { return heldDeltas!.append(delta) }
            node.send(node.publisher.publishExact(delta.table, added: delta.added, removed: delta.removed))
        }
        // The engine keeps the rows; the publisher keeps the seq and encodes.
        node.publisher.openExternal(table, columns: engine.columns(of: table))
        logger.debug("trigger added", metadata: ["table": "\(table)"])
    }

    func close(_ table: TableID, node: Node) {
        guard let trigger = triggers.removeValue(forKey: table) else { return }
        engine.removeTrigger(trigger)
        node.publisher.close(table)
        logger.debug("trigger removed", metadata: ["table": "\(table)"])
    }

    // MARK: - Requests

    func handle(_ request: ControlRequest, node: Node) throws(BusError) -> [String: JSON]? {
        switch request.op {
        case "tables":
            var names = Set(engine.tables).union(node.publisher.openTables)
            names = names.filter { engine.policies.contains($0.service) || engine.columns(of: $0) != nil || remote.contains($0) }
            return ["tables": .array(names.sorted().map { tableInfo($0, node: node) })]
        case "query":
            let rows = try query(try request.string("query"))
            return ["rows": JSON(rows: rows)]
        case "rules":
            return try rules(request, node: node)
        case "explain":
            guard case .explain(let query, let all) = try ControlCommand(request, limits: node.options.limits) else { return nil }
            do {
                return ["explanations": .array(try engine.explain(query, all: all).map(\.json))]
            } catch {
                throw BusError(error)
            }
        case "facts":
            let action = try request.string("action")
            let table = try request.table("table", limits: node.options.limits)
            let rows = try request.rows("rows", limits: node.options.limits)
            let records = factRecords(action: action, table: table, rows: rows)
            var transaction = Transaction()
            switch action {
            case "insert": for row in rows { transaction.insert(row, into: table) }
            case "delete": for row in rows { transaction.delete(row, from: table) }
            case "replace": transaction.replace(table, with: rows)
            default: throw BusError(.badRequest, "\"action\" must be insert, delete or replace")
            }
            try applyDurably(transaction, records: records, node: node) { factsUndo(records) }
            return [:]
        default:
            return nil
        }
    }

    func apply(_ transaction: Transaction) throws(BusError) {
        do {
            try engine.apply(transaction)
        } catch {
            throw BusError(error)
        }
    }

    func rules(_ request: ControlRequest, node: Node) throws(BusError) -> [String: JSON] {
        let action = try request.string("action")
        let policy = try request.string("policy")
        switch action {
        case "list":
            do {
                return ["rules": .array(try engine.rules(in: policy).map(JSON.string))]
            } catch {
                throw BusError(error)
            }
        case "insert", "delete":
            guard engine.policies.contains(policy) else {
                throw BusError(.unknownPolicy, "there is no policy '\(policy)'")
            }
            let text = try request.string("rule")
            var transaction = Transaction()
            if action == "insert" { transaction.insertRules(text, policy: policy) } else { transaction.deleteRules(text, policy: policy) }
            let rulesBefore = Set((try? engine.rules(in: policy)) ?? [])
            let parsed = try? PolicyParser.parse(text, policy: policy)
            var factsBefore: [Fact: Bool] = [:]
            for fact in parsed?.facts ?? [] { factsBefore[fact] = engine.containsFact(fact.values, in: fact.table) }
            try applyDurably(transaction, records: [action == "insert" ? .insertRules(policy: policy, text: text) : .deleteRules(policy: policy, text: text)], node: node) {
                rulesUndo(policy: policy, rulesBefore: rulesBefore, factsBefore: factsBefore)
            }
            updateRemote(now: monotonicNanoseconds())
            return [:]
        default:
            throw BusError(.badRequest, "\"action\" must be list, insert or delete")
        }
    }

    func tableInfo(_ table: TableID, node: Node) -> JSON {
        .object([
            "name": .string(table.description),
            "columns": engine.columns(of: table).map { .array($0.map(JSON.string)) } ?? .null,
            "seq": .int(Int64(node.publisher.seq(table) ?? 0)),
            "rows": .int(Int64(engine.count(of: table))),
            "subscribers": .int(Int64(node.registry.subscriberCount(table))),
        ])
    }

    /// Evaluates `table`, `table(args)` or `table(col=x)` against the engine's contents.
    /// A table of an existing policy that no rule defines yet is empty, not unknown.
    func query(_ text: String) throws(BusError) -> [Row] {
        do {
            return try engine.query(text)
        } catch {
            if error.code == .unknownTable, let syntax = try? PolicyParser.parseQuery(text, defaultPolicy: nil),
                engine.policies.contains(syntax.table.service) || remote.contains(syntax.table)
            {
                return []
            }
            throw BusError(error)
        }
    }

    func externalRows(_ table: TableID, node: Node) -> [Row] { engine.rows(of: table) }
    func externalRowCount(_ table: TableID, node: Node) -> Int { engine.count(of: table) }

    func status(node: Node) -> [String: JSON] {
        var peerTables: [String: JSON] = [:]
        for (_, session) in sessions {
            for (table, subscription) in session.subscriptions {
                peerTables[table.description] = .object([
                    "synced": .bool(subscription.isSynced), "seq": .int(Int64(subscription.seq)),
                    "rows": .int(Int64(subscription.rows.count)),
                ])
            }
        }
        return [
            "triggers": .array(engine.triggers.map(\.table).sorted().map { .string($0.description) }),
            "policies": .array(engine.policies.map(JSON.string)),
            "remote": .object(peerTables),
            "durability": durabilityStatus,
        ]
    }

    // MARK: - Peers

    /// Subscribes to the remote tables the rules read now, and unsubscribes
    /// from those they no longer read.
    func updateRemote(now: UInt64) {
        let wanted = engine.remoteTables
        for table in wanted.subtracting(remote).sorted() {
            if let retry = unavailable[table], retry > now { continue }
            guard let session = sessions.first(where: { $0.service == table.service })?.session else {
                if unavailable[table] == nil {
                    logger.warning("no peer serves this table; give --peer \(table.service)=ENDPOINT", metadata: ["table": "\(table)"])
                }
                unavailable[table] = now + .milliseconds(5000)
                continue
            }
            unavailable[table] = nil
            remote.insert(table)
            session.subscribe([table])
        }
        for table in remote.subtracting(wanted).sorted() {
            remote.remove(table)
            sessions.first(where: { $0.service == table.service })?.session.unsubscribe([table])
            var transaction = Transaction()
            transaction.replace(table, with: [])
            try? apply(transaction)
        }
    }

    func readable(socket index: Int, node: Node) {
        let session = sessions[index / SubscriptionSession.socketCount].session
        handle(session.readable(socket: index % SubscriptionSession.socketCount))
    }

    func tick(now: UInt64, node: Node) {
        for (_, session) in sessions { handle(session.tick(now: now)) }
        reportPeerHandshakes()
        if !unavailable.isEmpty { updateRemote(now: now) }
    }

    /// Applies peers' snapshots and deltas; one transaction per batch when possible.
    func handle(_ events: [SubscriptionSession.Event]) {
        var transaction = Transaction()
        var single: [Transaction] = []
        for event in events {
            var one = Transaction()
            switch event {
            case .table(let table, .snapshot(let rows, _)):
                one.replace(table, with: Array(rows))
                transaction.replace(table, with: Array(rows))
            case .table(let table, .delta(let added, let removed, _)):
                for row in removed {
                    one.delete(row, from: table)
                    transaction.delete(row, from: table)
                }
                for row in added {
                    one.insert(row, into: table)
                    transaction.insert(row, into: table)
                }
            case .table(_, .resync):
                continue
            case .columns(let table, let columns):
                if let columns, engine.columns(of: table) != columns { engine.declareColumns(columns, for: table) }
                continue
            case .failed(let table, let error):
                logger.warning("peer refused a subscription", metadata: ["table": "\(table)", "error": "\(error)"])
                remote.remove(table)
                unavailable[table] = monotonicNanoseconds() + .milliseconds(2000)
                continue
            }
            single.append(one)
        }
        guard !transaction.isEmpty else { return }
        do {
            try engine.apply(transaction)
        } catch {
            // Apply what can be applied; report the rest.
            for one in single {
                do { try engine.apply(one) } catch {
                    logger.warning("cannot apply a peer's change", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func shutdown(node: Node) {
        for (_, session) in sessions {
            session.unsubscribeAll(timeoutMilliseconds: 200)
            session.close()
        }
    }

    // MARK: - Start

    /// Learns peers' column names (bounded retry), then loads the policies.
    func start(_ setup: EngineSetup, node: Node) throws(BusError) {
        for (service, endpoint) in setup.peers.sorted(by: { $0.key < $1.key }) {
            sessions.append((service, try SubscriptionSession(
                context: node.context, controlEndpoint: endpoint, clientID: "engine-\(node.options.name)-\(node.publisher.epoch)",
                logger: logger, curve: setup.peerCurve[service])))
            learnColumns(
                service: service, endpoint: endpoint, node: node, budgetMilliseconds: setup.peerStartupMilliseconds,
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
        updateRemote(now: monotonicNanoseconds())
    }

    func learnColumns(service: String, endpoint: String, node: Node, budgetMilliseconds: Int, curve: CurveClientConfiguration?) {
        let deadline = monotonicNanoseconds() + .milliseconds(budgetMilliseconds)
        guard let client = try? ControlClient(context: node.context, endpoint: endpoint, timeoutMilliseconds: 500, curve: curve) else { return }
        defer { client.close() }
        while monotonicNanoseconds() < deadline {
            guard let reply = try? client.request("tables") else { continue }
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
