import Logging
import PolicyEngine
import Synchronization
import ZeroMQ

/// A node on the bus: a name, a ROUTER control socket and a PUB data socket,
/// served by one single-threaded poll loop. Not `Sendable`: create it, and
/// call `run()`, on the thread that owns it; talk to it through `control`.
public final class Node {
    public let options: NodeOptions
    public let context: Context
    public let control: NodeControl
    /// The bound control endpoint (wildcard port resolved).
    public let controlEndpoint: String
    /// The bound data endpoint (wildcard port resolved).
    public let dataEndpoint: String
    public var logger: Logger { options.logger }

    let router: Socket
    let pub: Socket
    var behavior: NodeBehavior!
    public internal(set) var publisher: TablePublisher
    public internal(set) var registry = SubscriptionRegistry()
    public internal(set) var counters: [String: Int] = [:]
    /// Deltas sent, kept apart from `counters`: counting one is on the publish
    /// hot path, where a string-keyed dictionary update is not free.
    private var deltasSent = 0
    var nextHeartbeat: UInt64 = 0

    init(options: NodeOptions, context: Context) throws(BusError) {
        self.options = options
        self.context = context
        do {
            control = try NodeControl()
            router = try Socket(context, .router)
            try router.set(.maxMessageSize, Int64(options.limits.maxMessageSize))
            try options.curve?.apply(to: router)
            try router.bind(options.control)
            controlEndpoint = try router.lastEndpoint
            pub = try Socket(context, .pub)
            try pub.set(.sendHighWaterMark, options.sendHighWaterMark)
            try options.curve?.apply(to: pub)
            try pub.bind(options.data ?? NodeOptions.defaultData(for: options.control))
            dataEndpoint = try pub.lastEndpoint
        } catch {
            throw BusError(.transport, "cannot bind: \(error)")
        }
        publisher = TablePublisher(node: options.name)
    }

    // MARK: - Publishing

    /// Sends a frame on the PUB socket.
    func send(_ frame: [UInt8]?) {
        guard let frame else { return }
        do {
            try pub.sendFrame(frame, more: false)
            deltasSent += 1
        } catch {
            logger.warning("publish failed", metadata: ["error": "\(error)"])
        }
    }

    func sendHeartbeats(now: UInt64) {
        for frame in publisher.heartbeats() {
            _ = try? pub.sendFrame(frame, more: false)
            counters["heartbeats", default: 0] += 1
        }
        nextHeartbeat = now + .milliseconds(options.heartbeatMilliseconds)
    }

    // MARK: - Loop

    /// Serves until `control.stop()`.
    public func run() {
        logger.debug("node started", metadata: ["node": "\(options.name)", "kind": "\(behavior.kind)", "control": "\(controlEndpoint)", "data": "\(dataEndpoint)"])
        var poller = Poller()
        let routerItem = poller.add(router)
        let wakerItem = poller.add(fd: control.waker.fileDescriptor)
        let behaviorSockets = behavior.sockets
        let firstBehaviorItem = poller.count
        for socket in behaviorSockets { poller.add(socket) }
        let tick = UInt64.milliseconds(min(options.heartbeatMilliseconds, 100))
        var nextTick: UInt64 = 0
        sendHeartbeats(now: monotonicNanoseconds())
        while !control.isStopping {
            let now = monotonicNanoseconds()
            let wakeAt = min(nextHeartbeat, nextTick)
            let timeout = wakeAt > now ? Int((wakeAt - now) / 1_000_000) + 1 : 0
            do {
                try poller.poll(timeout: timeout)
            } catch {
                logger.error("poll failed", metadata: ["error": "\(error)"])
                break
            }
            if poller.isReadable(routerItem) { serveRequests() }
            if poller.isReadable(wakerItem) {
                control.waker.drain()
                let work = control.queue.withLock { queue in
                    defer { queue.removeAll() }
                    return queue
                }
                for item in work { item(self) }
            }
            for index in behaviorSockets.indices where poller.isReadable(firstBehaviorItem + index) {
                behavior.readable(socket: index, node: self)
            }
            let later = monotonicNanoseconds()
            if later >= nextTick {
                expireLeases(now: later)
                behavior.tick(now: later, node: self)
                nextTick = later + tick
            }
            if later >= nextHeartbeat { sendHeartbeats(now: later) }
        }
        behavior.shutdown(node: self)
        router.close()
        pub.close()
        logger.info("node stopped", metadata: ["node": "\(options.name)"])
    }

    func expireLeases(now: UInt64) {
        let (clients, closed) = registry.expire(now: now)
        for client in clients {
            logger.info("lease expired", metadata: ["client.id": "\(client.id)", "client.key": "\(client.key ?? "-")"])
            counters["lease_expiries", default: 0] += 1
        }
        for table in closed { behavior.close(table, node: self) }
    }

    // MARK: - Requests

    /// Serves every request waiting on the ROUTER.
    func serveRequests() {
        for _ in 0..<1000 {
            let message: (frames: [[UInt8]], value: String?)?
            do {
                // The user id is the client's CURVE key when the ZAP handler
                // admitted the connection; it scopes the request's client id.
                message = try router.tryReceive(reading: .userID)
            } catch {
                logger.warning("receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard let (frames, userID) = message else { return }
            guard frames.count >= 2 else { continue }
            var envelope = [frames[0]]
            var body = frames[1...]
            if body.count >= 2, body.first!.isEmpty {
                envelope.append([])
                body = body.dropFirst()
            }
            let reply: [UInt8]
            if frames.count > options.limits.maxFramesPerMessage {
                counters["errors", default: 0] += 1
                reply = ControlReply.error(id: nil, BusError(.badFrames, "\(frames.count) frames; the limit is \(options.limits.maxFramesPerMessage)"))
            } else if body.count != 1 {
                counters["errors", default: 0] += 1
                reply = ControlReply.error(id: nil, BusError(.badFrames, "a request is one JSON frame (after an optional empty delimiter); got \(body.count) frames"))
            } else {
                reply = answer(body.first!, peer: frames[0], key: userID.flatMap { $0.isEmpty ? nil : $0 })
            }
            do {
                try router.send(envelope + [reply])
            } catch {
                logger.warning("reply failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The reply to one request frame.
    /// - Parameters:
    ///   - peer: the ROUTER's routing id of the connection.
    ///   - key: the sender's CURVE public key, if the ZAP handler gave it.
    func answer(_ frame: [UInt8], peer: [UInt8], key: String?) -> [UInt8] {
        counters["requests", default: 0] += 1
        let request: ControlRequest
        do {
            request = try ControlRequest(frame: frame)
        } catch {
            counters["errors", default: 0] += 1
            return ControlReply.error(id: ControlRequest.bestEffortID(frame), error)
        }
        do {
            return ControlReply.ok(id: request.id, try perform(request, peer: peer, key: key))
        } catch {
            counters["errors", default: 0] += 1
            logger.debug("request failed", metadata: ["op": "\(request.op)", "error": "\(error)"])
            return ControlReply.error(id: request.id, error)
        }
    }

    var leaseDeadline: UInt64 { monotonicNanoseconds() + .milliseconds(options.leaseMilliseconds) }

    /// Who sent `request`: its `client` string (else an id from the routing
    /// id), scoped to the sender's key when the node knows it.
    func clientIdentity(_ request: ControlRequest, peer: [UInt8], key: String?) -> ClientIdentity {
        ClientIdentity(request.client ?? "peer-" + peer.map { String($0, radix: 16) }.joined(), key: key)
    }

    func perform(_ request: ControlRequest, peer: [UInt8], key: String?) throws(BusError) -> [String: JSON] {
        let client = clientIdentity(request, peer: peer, key: key)
        registry.renew(client, until: leaseDeadline)
        switch request.op {
        case "hello":
            return hello()
        case "subscribe":
            return try subscribe(request, client: client)
        case "unsubscribe":
            let tables = try request.tables("tables", limits: options.limits)
            for table in registry.unsubscribe(client, from: tables) { behavior.close(table, node: self) }
            return ["tables": .array(registry.tables(of: client).sorted().map { .string($0.description) })]
        case "renew":
            return ["tables": .array(registry.tables(of: client).sorted().map { .string($0.description) })]
        case "status":
            return status()
        default:
            guard let fields = try behavior.handle(request, node: self) else {
                throw BusError(.unknownOp, "unknown op '\(request.op)'")
            }
            return fields
        }
    }

    func hello() -> [String: JSON] {
        [
            "name": .string(options.name), "kind": .string(behavior.kind), "version": .int(Int64(busProtocolVersion)),
            "data": .string(dataEndpoint), "epoch": .string(publisher.epoch),
            "heartbeat_ms": .int(Int64(options.heartbeatMilliseconds)), "lease_ms": .int(Int64(options.leaseMilliseconds)),
        ]
    }

    func subscribe(_ request: ControlRequest, client: ClientIdentity) throws(BusError) -> [String: JSON] {
        let tables = try request.tables("tables", limits: options.limits)
        let current = registry.tables(of: client)
        let total = current.union(tables).count
        let limit = options.limits.maxSubscriptionsPerClient
        guard total <= limit else {
            throw BusError(.tooManySubscriptions, "\(total) subscriptions; the limit is \(limit)")
        }
        // A key's subscriptions count together over all its client ids, so
        // that spreading them over many ids gains nothing.
        if let key = client.key {
            let keyTotal = registry.subscriptionCount(key: key) + (total - current.count)
            guard keyTotal <= limit else {
                throw BusError(.tooManySubscriptions, "\(keyTotal) subscriptions under this client's key (all its client ids); the limit is \(limit)")
            }
        }
        guard current.isEmpty == false || registry.clients.count < options.limits.maxClients else {
            throw BusError(.tooManySubscriptions, "\(registry.clients.count) clients hold subscriptions; the limit is \(options.limits.maxClients)")
        }
        for table in tables { try behavior.validate(table, node: self) }
        for table in registry.subscribe(client, to: tables, until: leaseDeadline) { behavior.open(table, node: self) }
        // The PUB learns of new SUB connections and their subscriptions only
        // when it handles its pending commands, and a send does that at most
        // once a millisecond. Reading ZMQ_EVENTS handles them all now, so a
        // subscription that reached this process before this request gets
        // the deltas after the snapshot (no late-joiner resync).
        _ = try? pub.events
        var snapshots: [String: JSON] = [:]
        for table in tables {
            let snapshot = publisher.snapshot(table)
            snapshots[table.description] = .object([
                "seq": .int(Int64(snapshot?.seq ?? 0)),
                "columns": snapshot?.columns.map { .array($0.map(JSON.string)) } ?? .null,
                "rows": JSON(rows: rows(of: table)),
            ])
        }
        var reply = hello()
        reply["tables"] = .object(snapshots)
        return reply
    }

    /// A published table's rows, sorted.
    func rows(of table: TableID) -> [Row] {
        guard publisher.tracksContents(table) else { return behavior.externalRows(table, node: self) }
        return (publisher.snapshot(table)?.rows ?? []).sorted(by: Node.rowOrder)
    }

    func status() -> [String: JSON] {
        let now = monotonicNanoseconds()
        var tables: [String: JSON] = [:]
        for table in publisher.openTables {
            tables[table.description] = .object([
                "seq": .int(Int64(publisher.seq(table) ?? 0)),
                "rows": .int(Int64(publisher.tracksContents(table) ? publisher.snapshot(table)?.rows.count ?? 0 : behavior.externalRowCount(table, node: self))),
                "subscribers": .int(Int64(registry.subscriberCount(table))),
            ])
        }
        let subscriptions: [JSON] = registry.clients.keys.sorted().map { client in
            let entry = registry.clients[client]!
            let left = entry.deadline > now ? (entry.deadline - now) / 1_000_000 : 0
            var fields: [String: JSON] = [
                "client": .string(client.id),
                "tables": .array(entry.tables.sorted().map { .string($0.description) }),
                "lease_ms_left": .int(Int64(left)),
            ]
            if let key = client.key { fields["key"] = .string(key) }
            return .object(fields)
        }
        var fields: [String: JSON] = [
            "name": .string(options.name), "kind": .string(behavior.kind), "epoch": .string(publisher.epoch),
            "subscriptions": .array(subscriptions), "tables": .object(tables),
            "counters": .object(counters.merging(["deltas": deltasSent]) { $1 }.mapValues { .int(Int64($0)) }),
        ]
        for (key, value) in behavior.status(node: self) { fields[key] = value }
        return fields
    }

    /// Rows in a stable order for replies.
    static func rowOrder(_ lhs: Row, _ rhs: Row) -> Bool {
        lhs.lexicographicallyPrecedes(rhs)
    }
}
