import Logging
import Synchronization
import PolicyEngine
import ZeroMQ

/// Subscriptions to tables at one node, driven by its owner's poll loop.
///
/// It owns a DEALER (control), a SUB (data) and a PAIR that reports the SUB's
/// handshakes, and never blocks: the owner polls `sockets`, calls
/// `readable(socket:)` when one is readable and `tick(now:)` at least every
/// 100 ms, and gets `Event`s back. It follows the
/// protocol's client rules: SUB subscribed before the snapshot is requested,
/// per-table state machines (`TableSubscription`), automatic resync, lease
/// renewal. Used by the CLI, the `Subscriber` library and the engine node.
/// Not `Sendable`: one thread owns it.
public final class SubscriptionSession {
    public enum Event: Hashable, Sendable {
        /// A change to a subscribed table.
        case table(TableID, TableSubscription.Event)
        /// A table's column names, from the node (nil when it has none).
        case columns(TableID, [String]?)
        /// The node refused a subscription; the table is dropped.
        case failed(TableID, BusError)
    }

    public let controlEndpoint: String
    public let clientID: String
    /// `[dealer, sub]`: poll both for readability.
    public let sockets: [Socket]
    public private(set) var subscriptions: [TableID: TableSubscription] = [:]
    /// From the node's `hello`.
    public private(set) var heartbeatMilliseconds = 1000
    public private(set) var leaseMilliseconds = 10_000
    public private(set) var dataEndpoint: String?
    /// Most data messages handled per `readable` call.
    public var maxBatch = 10_000
    /// How long to wait for a reply before asking again.
    public var requestTimeoutMilliseconds = 2000
    var logger: Logger

    let dealer: Socket
    let sub: Socket
    var nextID: Int64 = 1
    /// Reused by every data message received: similar messages then need no new storage.
    var frames: [[UInt8]] = []
    /// The topic of the last data message and the table it names.
    var lastTopic: (bytes: [UInt8], table: TableID)?

    enum Pending {
        case hello
        case subscribe([TableID])
        case renew
        case unsubscribe
    }

    var pending: [Int64: (request: Pending, deadline: UInt64)] = [:]
    /// Tables waiting for a snapshot request to be sent.
    var needsSnapshot: Set<TableID> = []
    /// Tables with a subscribe in flight.
    var requested: Set<TableID> = []
    var nextRenew: UInt64 = 0
    /// Control replies received so far; zero long after start means the node
    /// is unreachable (down, or a failed CURVE handshake).
    public private(set) var repliesReceived = 0
    let handshake: HandshakeWatch?
    /// Handshake events of `sub`: a new data connection is joined once one arrives.
    let dataMonitor: Socket
    /// While the SUB is joining a new data endpoint, when to stop waiting for
    /// its handshake and ask for snapshots anyway; nil when not joining.
    var joinDeadline: UInt64?
    /// The longest a snapshot request waits for the SUB's handshake.
    public var joinWaitMilliseconds = 1000
    private static let monitorCounter = Atomic<Int>(0)

    /// Why the control connection's security handshake failed, if it did
    /// (a refused key, a wrong server key); nil otherwise.
    public var handshakeFailure: String? { handshake?.poll() }

    /// Why the node has not answered, for a timeout's message (see `HandshakeWatch.noAnswerCause`).
    public var noAnswerCause: String { handshake?.noAnswerCause() ?? HandshakeWatch.unreachable }

    /// - Parameters:
    ///   - context: the ZeroMQ context.
    ///   - controlEndpoint: the node's control endpoint.
    ///   - clientID: the `client` sent with every request.
    ///   - receiveHighWaterMark: the SUB socket's RCVHWM (default libzmq's 1000).
    public init(
        context: Context, controlEndpoint: String, clientID: String = randomClientID(),
        receiveHighWaterMark: Int32? = nil, logger: Logger = Logger(label: "policybus.client"),
        curve: CurveClientConfiguration? = nil
    ) throws(BusError) {
        self.controlEndpoint = controlEndpoint
        self.clientID = clientID
        self.logger = logger
        do {
            dealer = try Socket(context, .dealer)
            try dealer.set(.linger, 0)
            sub = try Socket(context, .sub)
            try sub.set(.linger, 0)
            if let receiveHighWaterMark { try sub.set(.receiveHighWaterMark, receiveHighWaterMark) }
            try curve?.apply(to: dealer)
            try curve?.apply(to: sub)
            let monitorEndpoint = "inproc://policybus-data-join-\(Self.monitorCounter.add(1, ordering: .relaxed).newValue)"
            try sub.monitor(monitorEndpoint, events: .handshakeSucceeded)
            dataMonitor = try Socket(context, .pair)
            try dataMonitor.set(.linger, 0)
            try dataMonitor.connect(monitorEndpoint)
            handshake = try HandshakeWatch(dealer, context: context, usesCurve: curve != nil)
            try dealer.connect(controlEndpoint)
        } catch {
            throw BusError(.transport, "cannot connect to \(controlEndpoint): \(error)")
        }
        sockets = [dealer, sub, dataMonitor]
    }

    /// How many sockets a session has for its owner to poll.
    public static let socketCount = 3

    /// Closes its sockets; the node's lease ends the subscriptions.
    public func close() {
        dealer.close()
        sub.close()
        dataMonitor.close()
        handshake?.close()
    }

    /// The current contents of a synced table.
    public func rows(of table: TableID) -> Set<Row>? {
        guard let subscription = subscriptions[table], subscription.isSynced else { return nil }
        return subscription.rows
    }

    /// The seq of a synced table's contents.
    public func seq(of table: TableID) -> UInt64? {
        guard let subscription = subscriptions[table], subscription.isSynced else { return nil }
        return subscription.seq
    }

    /// Whether every subscribed table holds a snapshot and no resync is pending.
    public var isSynced: Bool { subscriptions.values.allSatisfy(\.isSynced) }

    // MARK: - Requests

    func send(_ op: String, _ fields: [String: JSON], as request: Pending) {
        let id = nextID
        nextID += 1
        let frame = ControlRequest.frame(op: op, id: id, client: clientID, fields: fields)
        pending[id] = (request, monotonicNanoseconds() + .milliseconds(requestTimeoutMilliseconds))
        do {
            _ = try dealer.trySend([frame])
        } catch {
            logger.warning("control send failed", metadata: ["error": "\(error)"])
        }
    }

    /// Subscribes to tables. Snapshots and deltas arrive as events.
    public func subscribe(_ tables: [TableID]) {
        let now = monotonicNanoseconds()
        for table in tables where subscriptions[table] == nil {
            subscriptions[table] = TableSubscription(
                table: table, silenceLimit: .milliseconds(3 * heartbeatMilliseconds), now: now)
            needsSnapshot.insert(table)
            do { try sub.set(.subscribe, DataMessage.topic(table)) } catch {
                logger.warning("SUB subscribe failed", metadata: ["error": "\(error)"])
            }
        }
        flush()
    }

    /// Unsubscribes from tables.
    public func unsubscribe(_ tables: [TableID]) {
        let gone = tables.filter { subscriptions.removeValue(forKey: $0) != nil }
        guard !gone.isEmpty else { return }
        for table in gone {
            needsSnapshot.remove(table)
            try? sub.set(.unsubscribe, DataMessage.topic(table))
        }
        send("unsubscribe", ["tables": .array(gone.map { .string($0.description) })], as: .unsubscribe)
    }

    /// Unsubscribes from everything and waits (at most `timeoutMilliseconds`)
    /// for the node to confirm, so its triggers go at once rather than at
    /// lease expiry. Blocks: call it from the owning thread when done.
    public func unsubscribeAll(timeoutMilliseconds: Int) {
        guard !subscriptions.isEmpty else { return }
        let id = nextID
        unsubscribe(Array(subscriptions.keys))
        let deadline = monotonicNanoseconds() + .milliseconds(timeoutMilliseconds)
        var poller = Poller()
        poller.add(dealer)
        while pending[id] != nil {
            let now = monotonicNanoseconds()
            guard now < deadline else { return }
            _ = try? poller.poll(timeout: Int((deadline - now) / 1_000_000) + 1)
            _ = readable(socket: 0)
        }
    }

    /// Sends what is due: `hello` first, then one `subscribe` for every table
    /// that needs a snapshot.
    func flush() {
        guard dataEndpoint != nil else {
            if !pending.values.contains(where: { if case .hello = $0.request { true } else { false } }) {
                send("hello", [:], as: .hello)
            }
            return
        }
        // Called after every batch of data messages; nearly always nothing is due.
        guard !needsSnapshot.isEmpty, !isJoiningData(now: monotonicNanoseconds()) else { return }
        let due = needsSnapshot.subtracting(requested).filter { subscriptions[$0] != nil }.sorted()
        needsSnapshot.removeAll()
        guard !due.isEmpty else { return }
        requested.formUnion(due)
        send("subscribe", ["tables": .array(due.map { .string($0.description) })], as: .subscribe(due))
    }

    /// Whether the SUB is still joining a new data endpoint. A snapshot
    /// requested then could be taken before the publisher knows the SUB's
    /// subscriptions, and the deltas right after it would be lost (the late
    /// joiner; a resync would follow). So snapshot requests wait for the
    /// SUB's handshake, at most `joinWaitMilliseconds`.
    func isJoiningData(now: UInt64) -> Bool {
        guard let deadline = joinDeadline else { return false }
        if now >= deadline {
            joinDeadline = nil
            return false
        }
        return true
    }

    /// Reads the SUB's queued handshake events; returns whether any arrived.
    func readDataMonitor() -> Bool {
        var handshakes = false
        while let frames = try? dataMonitor.tryReceive() {
            if MonitorEvent(frames: frames)?.event == .handshakeSucceeded { handshakes = true }
        }
        return handshakes
    }

    // MARK: - Input

    /// Handles a readable socket (index into `sockets`).
    public func readable(socket index: Int) -> [Event] {
        var events: [Event] = []
        if index == 2 {
            // The SUB's handshake: a snapshot request waiting for it can go now.
            if readDataMonitor() { joinDeadline = nil }
            flush()
        } else if index == 0 {
            while let frames = try? dealer.tryReceive() {
                guard let frame = frames.last else { continue }
                events += handleReply(frame)
            }
        } else {
            let now = monotonicNanoseconds()
            for _ in 0..<maxBatch {
                guard (try? sub.receive(into: &frames, dontWait: true)) == true else { break }
                guard frames.count == 1, let message = decode(frames[0]) else {
                    logger.debug("dropped a malformed data message")
                    continue
                }
                // The topic prefix cannot confuse tables, but check exactly anyway.
                guard subscriptions[message.table] != nil else { continue }
                for event in subscriptions[message.table]!.receive(message, now: now) {
                    events.append(noting(event, for: message.table))
                }
            }
        }
        flush()
        return events
    }

    /// Decodes a data message, reusing the table of the previous one when
    /// the topic is the same (a stream of one table's deltas names it once).
    func decode(_ frame: [UInt8]) -> DataMessage? {
        guard let space = try? DataMessage.topicEnd(frame) else { return nil }
        let table: TableID
        if let last = lastTopic, last.bytes.count == space, last.bytes.elementsEqual(frame[..<space]) {
            table = last.table
        } else {
            guard let named = try? DataMessage.table(frame, topicEnd: space) else { return nil }
            table = named
            lastTopic = (Array(frame[..<space]), named)
        }
        return try? DataMessage(decoding: frame, table: table, topicEnd: space)
    }

    func noting(_ event: TableSubscription.Event, for table: TableID) -> Event {
        if case .resync(let reason) = event {
            logger.debug("resync", metadata: ["table": "\(table)", "reason": "\(reason.rawValue)"])
            needsSnapshot.insert(table)
        }
        return .table(table, event)
    }

    func handleReply(_ frame: [UInt8]) -> [Event] {
        repliesReceived += 1
        guard let json = try? JSON.parse(frame), let id = json["id"]?.intValue, let (request, _) = pending.removeValue(forKey: id)
        else { return [] }
        let reply: JSON
        do {
            reply = try ControlReply.parse(frame)
        } catch {
            switch request {
            case .subscribe(let tables):
                requested.subtract(tables)
                var events: [Event] = []
                for table in tables where subscriptions.removeValue(forKey: table) != nil {
                    try? sub.set(.unsubscribe, DataMessage.topic(table))
                    events.append(.failed(table, error))
                }
                return events
            case .hello:
                logger.warning("hello failed", metadata: ["error": "\(error)"])
                return []
            case .renew, .unsubscribe:
                return []
            }
        }
        switch request {
        case .hello:
            learn(reply)
            needsSnapshot.formUnion(subscriptions.keys)
            return []
        case .subscribe(let tables):
            requested.subtract(tables)
            learn(reply)
            return applySnapshots(reply, tables: tables)
        case .renew:
            let held = Set((reply["tables"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(TableID.init) })
            var events: [Event] = []
            for table in subscriptions.keys.sorted() where !held.contains(table) && !requested.contains(table) {
                // The node forgot us (lease expired or it restarted).
                for event in subscriptions[table]!.invalidate(.leaseLost) { events.append(noting(event, for: table)) }
                needsSnapshot.insert(table)
            }
            return events
        case .unsubscribe:
            return []
        }
    }

    /// Takes the node's timing and data endpoint from a hello or subscribe reply.
    func learn(_ reply: JSON) {
        if let heartbeat = reply["heartbeat_ms"]?.intValue, heartbeat > 0 {
            heartbeatMilliseconds = Int(heartbeat)
            for table in subscriptions.keys { subscriptions[table]!.silenceLimit = .milliseconds(3 * heartbeatMilliseconds) }
        }
        if let lease = reply["lease_ms"]?.intValue, lease > 0 { leaseMilliseconds = Int(lease) }
        guard let advertised = reply["data"]?.stringValue else { return }
        let endpoint = DataEndpoint.resolve(advertised, control: controlEndpoint)
        guard endpoint != dataEndpoint else { return }
        if let old = dataEndpoint { try? sub.disconnect(old) }
        _ = readDataMonitor()  // events of an old connection must not count for the new one
        do {
            try sub.connect(endpoint)
            dataEndpoint = endpoint
            // inproc has no handshake: its pipes are attached by the connect itself.
            joinDeadline = endpoint.hasPrefix("inproc://") ? nil : monotonicNanoseconds() + .milliseconds(joinWaitMilliseconds)
        } catch {
            logger.warning("cannot connect SUB", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
        }
    }

    func applySnapshots(_ reply: JSON, tables: [TableID]) -> [Event] {
        guard let epoch = reply["epoch"]?.stringValue else {
            // Ask again: the silence check skips unsynced tables, so nothing else would.
            needsSnapshot.formUnion(tables.filter { subscriptions[$0] != nil })
            return []
        }
        let now = monotonicNanoseconds()
        var events: [Event] = []
        for table in tables where subscriptions[table] != nil {
            guard let snapshot = reply["tables"]?[table.description],
                let seq = snapshot["seq"]?.intValue,
                let rowsJSON = snapshot["rows"], let rows = try? RowCodec.rows(rowsJSON)
            else {
                needsSnapshot.insert(table)
                continue
            }
            let columns = snapshot["columns"]?.arrayValue?.compactMap(\.stringValue)
            events.append(.columns(table, columns))
            for event in subscriptions[table]!.applySnapshot(rows: Set(rows), seq: UInt64(seq), epoch: epoch, now: now) {
                events.append(noting(event, for: table))
            }
        }
        return events
    }

    // MARK: - Time

    /// Checks silence, request timeouts and lease renewal.
    public func tick(now: UInt64) -> [Event] {
        var events: [Event] = []
        for table in subscriptions.keys.sorted() {
            for event in subscriptions[table]!.tick(now: now) { events.append(noting(event, for: table)) }
        }
        for (id, entry) in pending where entry.deadline < now {
            pending[id] = nil
            if case .subscribe(let tables) = entry.request {
                requested.subtract(tables)
                needsSnapshot.formUnion(tables)
            }
        }
        // Every reconnection adds a handshake event: read them all, so that a
        // long-lived session's monitor pipe never fills up and blocks libzmq.
        handshake?.poll()
        if now >= nextRenew, dataEndpoint != nil, !subscriptions.isEmpty {
            nextRenew = now + .milliseconds(max(leaseMilliseconds / 3, 1))
            send("renew", [:], as: .renew)
        }
        flush()
        return events
    }
}
