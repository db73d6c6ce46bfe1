import Logging
import PolicyEngine

/// The client side of the subscription protocol for one node, without I/O.
///
/// It is fed what arrived (control replies, data messages, the data
/// connection's handshake) and the time, and answers with `Event`s for the
/// owner and `Action`s for whoever owns the sockets (`takeActions()`): send
/// this request, connect the SUB there, subscribe this topic. It never reads
/// the clock and never touches a socket, so its rules can be tested with a
/// fake clock. `SubscriptionConnection` drives it on a `PollLoop`.
///
/// It follows the protocol's client rules: the SUB subscribed before the
/// snapshot is requested, per-table state machines (`TableSubscription`),
/// automatic resync, lease renewal. A snapshot request that gets no reply in
/// time is asked again with a doubled timeout (2 s up to 32 s), and a reply
/// to any request still outstanding is taken: a node slow to build a large
/// snapshot is not asked for it again and again (issue 13's livelock).
///
/// A snapshot larger than one chunk comes as a `chunked` entry; the session
/// reads it one `snapshot-chunk` at a time (one request in flight per
/// table, so the node queues nothing for a slow client), buffering the
/// table's deltas meanwhile, and applies it once whole.
public struct SubscriptionSession: Sendable {
    public enum Event: Hashable, Sendable {
        /// A change to a subscribed table.
        case table(TableID, TableSubscription.Event)
        /// A table's column names, from the node (nil when it has none).
        case columns(TableID, [String]?)
        /// The node refused a subscription; the table is dropped.
        case failed(TableID, BusError)
    }

    /// What the owner of the sockets must do, in order.
    public enum Action: Hashable, Sendable {
        /// Send this request frame on the control connection (the DEALER).
        case send([UInt8])
        /// Connect the SUB to `endpoint`, after disconnecting it from
        /// `replacing`; report a failure with `dataConnectFailed()`, and the
        /// new connection's handshake with `dataJoined(now:)`.
        case connectData(String, replacing: String?)
        /// Subscribe the SUB to a table's topic.
        case listen(TableID)
        /// Unsubscribe the SUB from a table's topic.
        case stopListening(TableID)
    }

    public let controlEndpoint: String
    public let clientID: String
    public private(set) var subscriptions: [TableID: TableSubscription] = [:]
    /// From the node's `hello`.
    public private(set) var heartbeatMilliseconds = 1000
    public private(set) var leaseMilliseconds = 10_000
    /// The data endpoint the SUB is connected to (nil before the first reply).
    public private(set) var dataEndpoint: String?
    /// How long the first request for a snapshot waits for its reply.
    public var requestTimeoutMilliseconds = 2000
    /// The longest a repeated snapshot request waits (the timeout doubles up to this).
    public var maxRequestTimeoutMilliseconds = 32_000
    /// The longest a snapshot request waits for the SUB's handshake.
    public var joinWaitMilliseconds = 1000
    /// Control replies received so far; zero long after start means the node
    /// is unreachable (down, or a failed CURVE handshake).
    public private(set) var repliesReceived = 0
    var logger: Logger

    var nextID: Int64 = 1
    var pending: [Int64: Request] = [:]
    /// Tables waiting for a snapshot request to be sent.
    var needsSnapshot: Set<TableID> = []
    /// Per table awaiting a snapshot, the subscribe requests whose reply
    /// would do: the latest and any that timed out but may still come.
    var awaiting: [TableID: Set<Int64>] = [:]
    /// Per table, the snapshot requests that timed out in a row; the next
    /// request's timeout doubles with each.
    var timeouts: [TableID: Int] = [:]
    /// Tables whose resume did not fit their contents: their next request
    /// asks for a snapshot.
    var snapshotOnly: Set<TableID> = []
    /// No snapshot request before this time: the node said `not-ready`.
    var notReadyUntil: UInt64 = 0
    /// Tables whose snapshot is being read in chunks.
    var assembling: [TableID: Assembly] = [:]
    /// When each table started waiting for its snapshot, for the log.
    var syncStarted: [TableID: UInt64] = [:]
    var nextRenew: UInt64 = 0
    /// While the SUB is joining a new data endpoint, when to stop waiting for
    /// its handshake and ask for snapshots anyway; nil when not joining.
    var joinDeadline: UInt64?
    var actions: [Action] = []
    /// The topic of the last data message and the table it names.
    var lastTopic: (bytes: [UInt8], table: TableID)?

    /// A request waiting for its reply.
    struct Request {
        enum Kind {
            case hello
            case subscribe([TableID])
            case renew
            case unsubscribe
            /// A chunk of the table's snapshot being assembled.
            case chunk(TableID)
        }

        let kind: Kind
        let sentAt: UInt64
        let deadline: UInt64
        /// Past its deadline: asked again, but its reply is still taken.
        var timedOut = false
    }

    /// A chunked snapshot being read: where it stands and the rows so far.
    struct Assembly {
        let snapshot: String
        let seq: UInt64
        let epoch: String
        let columns: [String]?
        /// The rows the node said the snapshot holds.
        let total: Int
        var rows: Set<Row> = []
        /// Rows received: the next chunk's offset.
        var received = 0
    }

    /// - Parameters:
    ///   - controlEndpoint: the node's control endpoint (the data endpoint it
    ///     advertises is resolved against it).
    ///   - clientID: the `client` sent with every request.
    public init(controlEndpoint: String, clientID: String = randomClientID(), logger: Logger = Logger(label: "policybus.client")) {
        self.controlEndpoint = controlEndpoint
        self.clientID = clientID
        self.logger = logger
    }

    /// The actions due since the last call, in order.
    public mutating func takeActions() -> [Action] {
        defer { actions.removeAll() }
        return actions
    }

    // MARK: - Reading state

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

    /// Whether request `id` still waits for its reply.
    public func isWaiting(for id: Int64) -> Bool { pending[id] != nil }

    // MARK: - The owner's requests

    /// Subscribes to tables: each one's topic first, then a snapshot request.
    public mutating func subscribe(_ tables: [TableID], now: UInt64) {
        for table in tables where subscriptions[table] == nil {
            subscriptions[table] = TableSubscription(
                table: table, silenceLimit: .milliseconds(3 * heartbeatMilliseconds), now: now)
            needsSnapshot.insert(table)
            syncStarted[table] = now
            actions.append(.listen(table))
        }
        flush(now: now)
    }

    /// Unsubscribes from tables.
    /// - Returns: the id of the `unsubscribe` request, if one was sent.
    @discardableResult
    public mutating func unsubscribe(_ tables: [TableID], now: UInt64) -> Int64? {
        let gone = tables.filter { subscriptions.removeValue(forKey: $0) != nil }
        guard !gone.isEmpty else { return nil }
        for table in gone {
            needsSnapshot.remove(table)
            assembling[table] = nil
            awaiting[table] = nil
            timeouts[table] = nil
            syncStarted[table] = nil
            actions.append(.stopListening(table))
        }
        return send("unsubscribe", ["tables": .array(gone.map { .string($0.description) })], as: .unsubscribe, now: now)
    }

    /// Unsubscribes from everything, so the node drops its triggers at once
    /// rather than at lease expiry.
    /// - Returns: the request's id, to wait for with `isWaiting(for:)`.
    public mutating func unsubscribeAll(now: UInt64) -> Int64? {
        unsubscribe(subscriptions.keys.sorted(), now: now)
    }

    // MARK: - What arrived

    /// The SUB's handshake with the data endpoint completed: a snapshot
    /// request waiting for it can go now.
    public mutating func dataJoined(now: UInt64) {
        joinDeadline = nil
        flush(now: now)
    }

    /// The SUB could not connect to the endpoint of the last `connectData`.
    public mutating func dataConnectFailed() {
        dataEndpoint = nil
        joinDeadline = nil
    }

    /// Handles one data message (a SUB frame), appending what it changes to `events`.
    public mutating func receiveData(_ frame: [UInt8], now: UInt64, into events: inout [Event]) {
        guard let message = decode(frame) else {
            logger.debug("dropped a malformed data message")
            return
        }
        // The topic prefix cannot confuse tables, but check exactly anyway.
        guard subscriptions[message.table] != nil else { return }
        for event in subscriptions[message.table]!.receive(message, now: now) {
            events.append(noting(event, for: message.table, now: now))
        }
    }

    /// Handles one control reply frame.
    public mutating func receiveReply(_ frame: [UInt8], now: UInt64) -> [Event] {
        repliesReceived += 1
        guard let json = try? JSON.parse(frame), let id = json["id"]?.intValue, let request = pending.removeValue(forKey: id)
        else { return [] }
        let events = handleReply(frame, id: id, request: request, now: now)
        flush(now: now)
        return events
    }

    /// Checks silence, request timeouts, the join wait and lease renewal.
    /// Call it at least every 100 ms.
    public mutating func tick(now: UInt64) -> [Event] {
        var events: [Event] = []
        for table in subscriptions.keys.sorted() {
            for event in subscriptions[table]!.tick(now: now) { events.append(noting(event, for: table, now: now)) }
        }
        expireRequests(now: now)
        renewIfDue(now: now)
        return events
    }

    /// Sends the lease's `renew` when a third of the lease has passed since
    /// the last. Also while the owner is busy (an engine's long transaction
    /// pauses, `SubscriptionConnection.readWhileBusy`): the publisher would
    /// otherwise forget a subscriber busy for longer than its lease.
    public mutating func renewIfDue(now: UInt64) {
        if now >= nextRenew, dataEndpoint != nil, !subscriptions.isEmpty {
            nextRenew = now + .milliseconds(max(leaseMilliseconds / 3, 1))
            send("renew", [:], as: .renew, now: now)
        }
        flush(now: now)
    }

    // MARK: - Requests

    @discardableResult
    mutating func send(_ op: String, _ fields: [String: JSON], as kind: Request.Kind, now: UInt64, timeoutMilliseconds: Int? = nil) -> Int64 {
        let id = nextID
        nextID += 1
        let timeout = timeoutMilliseconds ?? requestTimeoutMilliseconds
        pending[id] = Request(kind: kind, sentAt: now, deadline: now + .milliseconds(timeout))
        actions.append(.send(ControlRequest.frame(op: op, id: id, client: clientID, fields: fields)))
        return id
    }

    /// Sends what is due: `hello` first, then one `subscribe` for every table
    /// that needs a snapshot and has no request in time.
    mutating func flush(now: UInt64) {
        guard dataEndpoint != nil else {
            if !pending.values.contains(where: { if case .hello = $0.kind { !$0.timedOut } else { false } }) {
                send("hello", [:], as: .hello, now: now)
            }
            return
        }
        guard !needsSnapshot.isEmpty, !isJoiningData(now: now), now >= notReadyUntil else { return }
        let due = needsSnapshot.filter { subscriptions[$0] != nil && !hasRequestInTime($0) }.sorted()
        needsSnapshot.removeAll()
        // A table held before resumes from where it stands: a request of its
        // own, with `since` (the node sends the missed deltas if it has them).
        var batch: [TableID] = []
        for table in due {
            if !snapshotOnly.contains(table), let point = subscriptions[table]?.resumePoint {
                requestSnapshot([table], since: ControlCommand.Since(epoch: point.epoch, seq: point.seq), now: now)
            } else {
                batch.append(table)
            }
        }
        if !batch.isEmpty { requestSnapshot(batch, since: nil, now: now) }
    }

    mutating func requestSnapshot(_ tables: [TableID], since: ControlCommand.Since?, now: UInt64) {
        let timeout = tables.map(snapshotTimeout).max()!
        let fields = ControlCommand.subscribe(tables: tables, since: since).fields
        let id = send("subscribe", fields, as: .subscribe(tables), now: now, timeoutMilliseconds: timeout)
        for table in tables { awaiting[table, default: []].insert(id) }
    }

    /// The timeout of the next snapshot request for `table`: doubled for each
    /// request that timed out in a row.
    func snapshotTimeout(_ table: TableID) -> Int {
        let doublings = min(timeouts[table] ?? 0, 16)
        return min(requestTimeoutMilliseconds << doublings, max(maxRequestTimeoutMilliseconds, requestTimeoutMilliseconds))
    }

    /// Whether a snapshot request for `table` is out and not yet past its
    /// deadline, or its chunked snapshot is being read.
    func hasRequestInTime(_ table: TableID) -> Bool {
        assembling[table] != nil || awaiting[table]?.contains { pending[$0]?.timedOut == false } ?? false
    }

    /// A snapshot request past its deadline is asked again (its tables with
    /// a longer timeout) but stays outstanding: its reply still counts. One
    /// that waited twice the longest timeout is given up. Unanswered renews
    /// and unsubscribes are dropped.
    mutating func expireRequests(now: UInt64) {
        let giveUpAfter = UInt64.milliseconds(2 * max(maxRequestTimeoutMilliseconds, requestTimeoutMilliseconds))
        for (id, request) in pending where request.deadline < now {
            switch request.kind {
            case .subscribe(let tables):
                if !request.timedOut {
                    pending[id]!.timedOut = true
                    for table in tables where awaiting[table]?.contains(id) == true && !hasRequestInTime(table) {
                        timeouts[table, default: 0] += 1
                        needsSnapshot.insert(table)
                        logger.debug("snapshot request timed out; asking again", metadata: [
                            "table": "\(table)", "timeout.ms": "\((request.deadline - request.sentAt) / 1_000_000)",
                            "next.timeout.ms": "\(snapshotTimeout(table))",
                        ])
                    }
                }
                if now - request.sentAt > giveUpAfter {
                    pending[id] = nil
                    for table in tables {
                        awaiting[table]?.remove(id)
                        if awaiting[table]?.isEmpty == true {
                            awaiting[table] = nil
                            if subscriptions[table]?.isSynced == false { needsSnapshot.insert(table) }
                        }
                    }
                }
            case .hello:
                pending[id]!.timedOut = true
                if now - request.sentAt > giveUpAfter { pending[id] = nil }
            case .chunk(let table):
                // Asked again from the same offset; a late reply to either is taken.
                if !request.timedOut, assembling[table] != nil {
                    pending[id]!.timedOut = true
                    requestChunk(table, now: now)
                }
                if now - request.sentAt > giveUpAfter {
                    pending[id] = nil
                    if assembling[table] != nil, !pending.values.contains(where: { if case .chunk(table) = $0.kind { !$0.timedOut } else { false } }) {
                        restartSnapshot(table)
                    }
                }
            case .renew, .unsubscribe:
                pending[id] = nil
            }
        }
    }

    /// Whether the SUB is still joining a new data endpoint. A snapshot
    /// requested then could be taken before the publisher knows the SUB's
    /// subscriptions, and the deltas right after it would be lost (the late
    /// joiner; a resync would follow). So snapshot requests wait for the
    /// SUB's handshake, at most `joinWaitMilliseconds`.
    mutating func isJoiningData(now: UInt64) -> Bool {
        guard let deadline = joinDeadline else { return false }
        if now >= deadline {
            joinDeadline = nil
            return false
        }
        return true
    }

    // MARK: - Data

    /// Decodes a data message, reusing the table of the previous one when
    /// the topic is the same (a stream of one table's deltas names it once).
    mutating func decode(_ frame: [UInt8]) -> DataMessage? {
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

    /// A table's event; a resync asks for a fresh snapshot at once.
    mutating func noting(_ event: TableSubscription.Event, for table: TableID, now: UInt64) -> Event {
        if case .resync(let reason) = event {
            logger.debug("resync", metadata: ["table": "\(table)", "reason": "\(reason.rawValue)"])
            // A new epoch has none of the old deltas: no `since`, so the
            // tables of a restarted node go in one request.
            if reason == .newEpoch { snapshotOnly.insert(table) }
            needsSnapshot.insert(table)
            syncStarted[table] = now
            flush(now: now)
        }
        return .table(table, event)
    }

    // MARK: - Replies

    mutating func handleReply(_ frame: [UInt8], id: Int64, request: Request, now: UInt64) -> [Event] {
        let reply: JSON
        do {
            reply = try ControlReply.parse(frame)
        } catch {
            switch request.kind {
            case .subscribe(let tables) where error.code == .notReady:
                notReady(tables, id: id, now: now)
                return []
            case .subscribe(let tables):
                var events: [Event] = []
                for table in tables where awaiting[table]?.contains(id) == true && subscriptions.removeValue(forKey: table) != nil {
                    awaiting[table] = nil
                    timeouts[table] = nil
                    syncStarted[table] = nil
                    actions.append(.stopListening(table))
                    events.append(.failed(table, error))
                }
                return events
            case .hello:
                logger.warning("hello failed", metadata: ["error": "\(error)"])
                return []
            case .chunk(let table):
                // The capture is gone (`snapshot-gone`: the node restarted,
                // or we were too slow): a new snapshot, from the start.
                if assembling[table] != nil {
                    logger.debug("chunked snapshot refused; asking again", metadata: ["table": "\(table)", "error": "\(error)"])
                    restartSnapshot(table)
                }
                return []
            case .renew, .unsubscribe:
                return []
            }
        }
        switch request.kind {
        case .hello:
            learn(reply, now: now)
            needsSnapshot.formUnion(subscriptions.filter { !$0.value.isSynced && !hasRequestInTime($0.key) }.keys)
            return []
        case .subscribe(let tables):
            learn(reply, now: now)
            return applySnapshots(reply, tables: tables.filter { awaiting[$0]?.contains(id) == true }, now: now)
        case .renew:
            let held = Set((reply["tables"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(TableID.init) })
            var events: [Event] = []
            for table in subscriptions.keys.sorted() where !held.contains(table) && awaiting[table] == nil {
                // The node forgot us (lease expired or it restarted).
                for event in subscriptions[table]!.invalidate(.leaseLost) { events.append(noting(event, for: table, now: now)) }
                needsSnapshot.insert(table)
            }
            return events
        case .unsubscribe:
            return []
        case .chunk(let table):
            return receiveChunk(reply, table: table, now: now)
        }
    }

    /// An engine's tables are not ready (their peer inputs are still
    /// syncing): the tables are asked for again after a request timeout.
    mutating func notReady(_ tables: [TableID], id: Int64, now: UInt64) {
        logger.debug("node not ready; asking again", metadata: ["tables": "\(tables)"])
        notReadyUntil = now + .milliseconds(requestTimeoutMilliseconds)
        for table in tables where awaiting[table]?.remove(id) != nil && !hasRequestInTime(table) {
            if awaiting[table]?.isEmpty == true { awaiting[table] = nil }
            needsSnapshot.insert(table)
        }
    }

    /// Takes the node's timing and data endpoint from a hello or subscribe reply.
    mutating func learn(_ reply: JSON, now: UInt64) {
        if let heartbeat = reply["heartbeat_ms"]?.intValue, heartbeat > 0 {
            heartbeatMilliseconds = Int(heartbeat)
            for table in subscriptions.keys { subscriptions[table]!.silenceLimit = .milliseconds(3 * heartbeatMilliseconds) }
        }
        if let lease = reply["lease_ms"]?.intValue, lease > 0 { leaseMilliseconds = Int(lease) }
        guard let advertised = reply["data"]?.stringValue else { return }
        let endpoint = DataEndpoint.resolve(advertised, control: controlEndpoint)
        guard endpoint != dataEndpoint else { return }
        actions.append(.connectData(endpoint, replacing: dataEndpoint))
        dataEndpoint = endpoint
        // inproc has no handshake: its pipes are attached by the connect itself.
        joinDeadline = endpoint.hasPrefix("inproc://") ? nil : now + .milliseconds(joinWaitMilliseconds)
    }

    /// Applies the snapshots of a subscribe reply to `tables`, the ones
    /// still awaiting it.
    mutating func applySnapshots(_ reply: JSON, tables: [TableID], now: UInt64) -> [Event] {
        for table in tables { awaiting[table] = nil }
        guard let epoch = reply["epoch"]?.stringValue else {
            // Ask again: the silence check skips unsynced tables, so nothing else would.
            needsSnapshot.formUnion(tables.filter { subscriptions[$0] != nil })
            return []
        }
        var events: [Event] = []
        for table in tables where subscriptions[table] != nil {
            guard let snapshot = reply["tables"]?[table.description], let seq = snapshot["seq"]?.intValue, seq >= 0 else {
                needsSnapshot.insert(table)
                continue
            }
            let columns = snapshot["columns"]?.arrayValue?.compactMap(\.stringValue)
            if snapshot["resumed"] == .bool(true) {
                guard let resumed = resume(table, snapshot["deltas"], current: UInt64(seq), epoch: epoch, now: now) else {
                    snapshotOnly.insert(table)
                    needsSnapshot.insert(table)
                    continue
                }
                events.append(.columns(table, columns))
                logSync(table, rows: subscriptions[table]!.rows.count, now: now)
                for event in resumed { events.append(noting(event, for: table, now: now)) }
                continue
            }
            if let chunked = snapshot["chunked"] {
                guard let id = chunked["snapshot"]?.stringValue, let total = chunked["rows"]?.intValue, total >= 0 else {
                    needsSnapshot.insert(table)
                    continue
                }
                assembling[table] = Assembly(snapshot: id, seq: UInt64(seq), epoch: epoch, columns: columns, total: Int(total))
                requestChunk(table, now: now)
                continue
            }
            guard let rowsJSON = snapshot["rows"], let rows = try? RowCodec.rows(rowsJSON) else {
                needsSnapshot.insert(table)
                continue
            }
            snapshotOnly.remove(table)
            events.append(.columns(table, columns))
            logSync(table, rows: rows.count, now: now)
            for event in subscriptions[table]!.applySnapshot(rows: Set(rows), seq: UInt64(seq), epoch: epoch, now: now) {
                events.append(noting(event, for: table, now: now))
            }
        }
        return events
    }

    // MARK: - Chunked snapshots

    /// Asks for the next chunk of `table`'s snapshot: the one request in
    /// flight for it (the node queues at most one chunk for us).
    mutating func requestChunk(_ table: TableID, now: UInt64) {
        guard let assembly = assembling[table] else { return }
        let fields = ControlCommand.snapshotChunk(snapshot: assembly.snapshot, offset: assembly.received).fields
        send("snapshot-chunk", fields, as: .chunk(table), now: now)
    }

    /// Takes a chunk: the rows it adds, then the next request, or, at the
    /// end, the whole snapshot. A chunk from another offset (a late reply to
    /// a request asked again) is a duplicate and ignored.
    mutating func receiveChunk(_ reply: JSON, table: TableID, now: UInt64) -> [Event] {
        guard assembling[table].map({ reply["offset"]?.intValue == Int64($0.received) }) == true,
            // Out of the dictionary while it grows: a copy left there would
            // share its rows, and each chunk's union would copy them all
            // (a 1M-row snapshot held an engine's loop for 0.5-1 s).
            var assembly = assembling.removeValue(forKey: table)
        else { return [] }
        guard let rowsJSON = reply["rows"], let rows = try? RowCodec.rows(rowsJSON), let more = reply["more"]?.intValue, more >= 0 else {
            restartSnapshot(table)
            return []
        }
        // Room for the whole snapshot at the first chunk: a set that doubles
        // rehashes every row so far in one step (a 1M-row snapshot's last
        // doublings held an engine's loop 100-400 ms each). Bounded: the
        // count is the peer's word.
        if assembly.received == 0 { assembly.rows.reserveCapacity(min(assembly.total, Self.mostRowsReserved)) }
        assembly.rows.formUnion(rows)
        assembly.received += rows.count
        // Drop the old requests for this table: their replies are duplicates now.
        pending = pending.filter { if case .chunk(table) = $0.value.kind { false } else { true } }
        if more > 0, !rows.isEmpty {
            assembling[table] = assembly
            requestChunk(table, now: now)
            return []
        }
        guard more == 0, assembly.received == assembly.total, assembly.rows.count == assembly.total else {
            logger.debug("chunked snapshot does not add up; asking again", metadata: ["table": "\(table)"])
            restartSnapshot(table)
            return []
        }
        snapshotOnly.remove(table)
        logSync(table, rows: assembly.total, now: now)
        var events: [Event] = [.columns(table, assembly.columns)]
        for event in subscriptions[table]!.applySnapshot(rows: assembly.rows, seq: assembly.seq, epoch: assembly.epoch, now: now) {
            events.append(noting(event, for: table, now: now))
        }
        return events
    }

    /// Most rows a chunked snapshot makes room for at its first chunk.
    static let mostRowsReserved = 1 << 24

    /// Drops a chunked snapshot being read and asks for a new one.
    mutating func restartSnapshot(_ table: TableID) {
        assembling[table] = nil
        guard subscriptions[table] != nil else { return }
        snapshotOnly.insert(table)
        needsSnapshot.insert(table)
    }

    /// Applies the deltas of a resumed subscribe reply; nil when they are
    /// malformed or do not follow the table's contents.
    mutating func resume(_ table: TableID, _ json: JSON?, current: UInt64, epoch: String, now: UInt64) -> [TableSubscription.Event]? {
        guard let list = json?.arrayValue else { return nil }
        var deltas: [(seq: UInt64, added: [Row], removed: [Row])] = []
        for delta in list {
            guard let seq = delta["seq"]?.intValue, seq >= 0, let added = delta["added"], let removed = delta["removed"],
                let addedRows = try? RowCodec.rows(added), let removedRows = try? RowCodec.rows(removed)
            else { return nil }
            deltas.append((UInt64(seq), addedRows, removedRows))
        }
        return subscriptions[table]!.applyResume(deltas, current: current, epoch: epoch, now: now)
    }

    /// Logs how long a table waited for its snapshot: at info when a
    /// request timed out on the way (a slow node), else at debug.
    mutating func logSync(_ table: TableID, rows: Int, now: UInt64) {
        let retries = timeouts.removeValue(forKey: table) ?? 0
        let started = syncStarted.removeValue(forKey: table) ?? now
        let metadata: Logger.Metadata = [
            "table": "\(table)", "rows": "\(rows)", "sync.ms": "\((now - min(started, now)) / 1_000_000)", "requests.timed.out": "\(retries)",
        ]
        logger.log(level: retries > 0 ? .info : .debug, "snapshot received", metadata: metadata)
    }
}
