import Logging
import Monitoring
import PolicyEngine
import Synchronization
import ZeroMQ

/// A node on the bus: a name, a ROUTER control socket and a PUB data socket,
/// served by one `PollLoop` on one thread. Not `Sendable`: create it, and
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
    /// Runs everything the node does: its sockets, the behaviour's, the
    /// timers and the work submitted through `control`.
    let loop: PollLoop
    /// The PUB side and what the behaviour may touch.
    let nodeContext: NodeContext
    let behavior: any NodeBehavior
    public internal(set) var registry = SubscriptionRegistry()
    public internal(set) var counters: [String: Int] = [:]
    /// Subscribe requests waiting for their tables' peer inputs (`Node+HeldSubscribes.swift`).
    var heldSubscribes: [HeldSubscribe] = []
    /// Requests read and not served yet, per connection.
    var requestQueue: RequestQueue
    /// The timer that serves the queue next, while one is due.
    var serving: PollLoop.Timer?
    /// Snapshots being sorted, and those larger than a chunk being read with `snapshot-chunk`.
    var captures: SnapshotCaptures
    /// Subscribes waiting for their snapshots to be sorted (`Node+Captures.swift`).
    var waitingReplies: [WaitingReply] = []
    /// Queries waiting for their tables sorted, by table, and the tables in
    /// the order their sorts take steps (`Node+Captures.swift`).
    var querySorts: [TableID: QuerySort] = [:]
    var sortTurns: [TableID] = []
    /// Queries whose tables are sorted, answered one a step.
    var sortedQueries: [(query: QuerySort.Waiting, rows: (rows: [Row], version: AnyHashable)?)] = []
    var querySortsNext = false
    /// Large request frames being read a step at a time, oldest first, and
    /// whether the last turn was a step of one or of a queued change (`Node+QueuedChanges.swift`).
    var readingRequests: [ReadingRequest] = []
    var changeStepLast = false
    /// About the longest a request or a step took lately (`serveQueued`).
    var workNanoseconds: UInt64 = 0
    /// The connection whose request is being served: while its long work
    /// pauses, its next requests wait behind it (`Node+LongWork.swift`).
    var servingPeer: [UInt8]?
    /// The long work in progress, for a `status` read in its pauses (`Node+LongWork.swift`).
    var longWork = LongWork()
    /// When heartbeats last went out.
    var lastHeartbeats: UInt64 = 0

    /// The node's published tables.
    public var publisher: TablePublisher { nodeContext.publisher }
    /// The node's metrics and health (`--metrics`, `status`).
    var monitor: NodeMonitor { nodeContext.monitor }
    /// When the row gauges are next refreshed (`Node+Monitoring.swift`).
    var nextGaugeRefresh: UInt64 = 0
    /// Whether big state went since the allocator was last trimmed, and
    /// when it may be trimmed next (`Node+Monitoring.swift`).
    var trimDue = false
    var nextTrim: UInt64 = 0

    /// Binds both sockets, then makes the behaviour, which sees the node only
    /// through a `NodeContext`.
    init(
        options: NodeOptions, context: Context, behavior makeBehavior: (NodeContext) throws(BusError) -> any NodeBehavior
    ) throws(BusError) {
        self.options = options
        self.context = context
        requestQueue = RequestQueue(limit: options.limits.maxQueuedRequests, byteLimit: options.limits.maxQueuedBytes)
        captures = SnapshotCaptures(chunkBytes: options.snapshotChunkBytes, idleNanoseconds: .milliseconds(options.leaseMilliseconds))
        do {
            loop = try PollLoop()
            control = NodeControl(loop.remote)
            router = try Socket(context, .router)
            try router.set(.maxMessageSize, Int64(options.limits.maxMessageSize))
            try router.set(.receiveHighWaterMark, options.limits.maxUnreadRequests)
            // A reply the ROUTER cannot queue (the client reads too slowly, or
            // is gone) fails instead of vanishing, so that it is counted and logged.
            try router.set(.routerMandatory, true)
            try options.curve?.apply(to: router)
            try router.bind(options.control)
            controlEndpoint = try router.lastEndpoint
            nodeContext = try NodeContext(options: options, zmq: context, loop: loop)
            dataEndpoint = try nodeContext.dataEndpoint()
        } catch {
            throw BusError(.transport, "cannot bind: \(error)")
        }
        behavior = try makeBehavior(nodeContext)
    }

    func sendHeartbeats() {
        lastHeartbeats = monotonicNanoseconds()
        counters["heartbeats", default: 0] += nodeContext.sendHeartbeats()
    }

    // MARK: - Loop

    /// Serves until `control.stop()`.
    public func run() {
        logger.debug("node started", metadata: ["node": "\(options.name)", "kind": "\(behavior.kind)", "control": "\(controlEndpoint)", "data": "\(dataEndpoint)"])
        loop.add(router) { [unowned self] _ in readRequests() }
        loop.receive(control.inbox) { [unowned self] work in work(self) }
        loop.every(milliseconds: min(options.heartbeatMilliseconds, 100)) { [unowned self] now in
            // The stall check's turn: a loop busy in a handler misses its timers too.
            monitor.health.loopTurned()
            expireLeases(now: now)
            let unread = captures.expire(now: now)
            counters["snapshots_dropped_unread", default: 0] += unread
            if unread > 0 { memoryFreed() }
            behavior.tick(now: now)
            refreshGauges(now: now)
            releaseHeldSubscribes(now: now)
            trimMemory(now: now)
        }
        monitor.health.loopTurned()
        sendHeartbeats()
        loop.every(milliseconds: options.heartbeatMilliseconds) { [unowned self] _ in sendHeartbeats() }
        behavior.policyEngine?.pause = { [unowned self] in pauseLongWork() }
        do {
            try loop.run()
        } catch {
            logger.error("poll failed", metadata: ["error": "\(error)"])
        }
        behavior.policyEngine?.pause = nil
        behavior.shutdown()
        router.close()
        nodeContext.close()
        logger.info("node stopped", metadata: ["node": "\(options.name)"])
    }

    func expireLeases(now: UInt64) {
        let (clients, closed) = registry.expire(now: now)
        for client in clients {
            logger.info("lease expired", metadata: ["client.id": "\(client.id)", "client.key": "\(client.key ?? "-")"])
            counters["lease_expiries", default: 0] += 1
            monitor.leaseExpired()
        }
        close(closed)
        if !clients.isEmpty {
            subscriptionsChanged()
            memoryFreed()
        }
    }

    // MARK: - Requests

    /// Reads what the ROUTER has (at most 1000 messages a turn) into the
    /// per-connection queues, and refuses a request over its connection's
    /// bound with `busy`. The requests are served by a loop timer due at once
    /// (`serveQueued`), a budget's worth a turn, so that between slices the
    /// loop sends heartbeats, runs its timers and reads other clients.
    /// While long work pauses (`whileBusy`), a `hello` or `renew` from a
    /// connection with nothing waiting is answered at once, and every other
    /// small request renews its client's lease before it queues.
    func readRequests(whileBusy: Bool = false) {
        for _ in 0..<1000 {
            let message: (frames: [[UInt8]], value: String?)?
            do {
                // The user id is the client's CURVE key when the ZAP handler
                // admitted the connection; it scopes the request's client id.
                message = try router.tryReceive(reading: .userID)
            } catch {
                logger.warning("receive failed", metadata: ["error": "\(error)"])
                break
            }
            guard let (frames, userID) = message else { break }
            guard frames.count >= 2 else { continue }
            let request = RequestQueue.Request(frames: frames, userID: userID.flatMap { $0.isEmpty ? nil : $0 })
            if whileBusy && answeredWhileBusy(request) { continue }
            if let refusal = requestQueue.add(request) {
                let error = switch refusal {
                case .requests:
                    BusError(.busy, "\(requestQueue.limit) requests from this connection are waiting already (the limit): wait for their replies before sending more")
                case .bytes:
                    BusError(.busy, "the node holds \(requestQueue.byteCount) bytes of waiting requests (the limit is \(requestQueue.byteLimit)) and one from this connection: wait for its reply before sending more")
                }
                // The id and op are looked for in the frame's first 4 KiB only:
                // refusing a burst of 10 MB frames must not cost a scan of each.
                let head = frames.last.map { Array($0.prefix(Self.busyIDScanBytes)) } ?? []
                send(refuse(op: ControlRequest.bestEffortOp(head), id: ControlRequest.bestEffortID(head), error), to: envelope(of: frames))
                continue
            }
        }
        scheduleServing()
    }

    /// How far into a refused (`busy`) request's frame its `id` and `op` are looked for.
    static let busyIDScanBytes = 4096

    /// Makes the loop serve the queued requests, and sort the snapshots
    /// being taken, in its next round of timers.
    func scheduleServing() {
        guard serving == nil, requestQueue.hasServable || captures.isBuilding || hasQuerySortWork || hasLongSteps else { return }
        serving = loop.at(monotonicNanoseconds()) { [unowned self] now in serveQueued(since: now) }
    }

    /// Does a step of a change the behaviour applies a step at a time
    /// (`Node+QueuedChanges.swift`: every other turn while requests wait),
    /// or serves queued requests, one per connection in turn, each followed by
    /// a step of the snapshot or query sort whose turn it is
    /// (`Node+Captures.swift`), until neither is left or the loop budget
    /// (`BusLimits.loopBudgetMilliseconds`) since `start` would be spent by
    /// one more (`workNanoseconds`); the rest wait for the next turn. A turn
    /// serves one at least, so that a request longer than the budget still
    /// goes, alone in its turn.
    func serveQueued(since start: UInt64) {
        serving = nil
        let deadline = start + .milliseconds(options.limits.loopBudgetMilliseconds)
        var now = monotonicNanoseconds()
        if stepQueuedChange(since: now) {
            scheduleServing()
            return
        }
        repeat {
            let request = requestQueue.next()
            if let request {
                serve(request)
                now = workDone(since: now)
            }
            let stepped = stepCaptures()
            if stepped { now = workDone(since: now) }
            guard request != nil || stepped else { break }
        } while now + workNanoseconds < deadline
        scheduleServing()
    }

    /// Notes how long a request or step took, in `workNanoseconds`: the
    /// longest lately, decaying, so that one long request (or a preempted
    /// one) does not shorten every turn after it.
    /// - Returns: now.
    func workDone(since start: UInt64) -> UInt64 {
        let now = monotonicNanoseconds()
        workNanoseconds = max(now - start, workNanoseconds - workNanoseconds / 8)
        return now
    }

    /// Answers one request, unless it is held (a `subscribe` waiting for its peer inputs).
    func serve(_ request: RequestQueue.Request) {
        servingPeer = request.frames[0]
        defer { servingPeer = nil }
        let frames = request.frames
        let envelope = envelope(of: frames)
        let body = frames.dropFirst(envelope.count)
        let reply: [UInt8]?
        if frames.count > options.limits.maxFramesPerMessage {
            reply = refuse(op: nil, id: nil, BusError(.badFrames, "\(frames.count) frames; the limit is \(options.limits.maxFramesPerMessage)"))
        } else if body.count != 1 {
            reply = refuse(op: nil, id: nil, BusError(.badFrames, "a request is one JSON frame (after an optional empty delimiter); got \(body.count) frames"))
        } else {
            reply = answer(body.first!, peer: frames[0], key: request.userID, envelope: envelope)
        }
        if let reply { send(reply, to: envelope) }
        // A large frame's memory is free again: give its pages back (at most once a second).
        if request.byteCount >= 1 << 20 { memoryFreed() }
    }

    /// Where a reply to `frames` goes: the routing id, and the empty
    /// delimiter when the request had one (a REQ client).
    func envelope(of frames: [[UInt8]]) -> [[UInt8]] {
        frames.count >= 3 && frames[1].isEmpty ? [frames[0], []] : [frames[0]]
    }

    /// Sends a reply without ever blocking the loop. One that the client's
    /// connection has no room for (it reads its replies too slowly: libzmq's
    /// send queue is full), or whose client is gone, is dropped and counted
    /// (`replies_dropped`); logged at the 1st, 2nd, 4th, 8th... drop, so
    /// that a flood of them cannot flood the log.
    func send(_ reply: [UInt8], to envelope: [[UInt8]]) {
        var reason = "the client reads its replies too slowly"
        do {
            if try router.trySend(envelope + [reply]) { return }
        } catch {
            reason = error.code == ZMQError.hostUnreachable ? "the client is gone" : "\(error)"
        }
        let dropped = counters["replies_dropped", default: 0] + 1
        counters["replies_dropped"] = dropped
        monitor.replyDropped()
        guard dropped & (dropped - 1) == 0 else { return }
        logger.warning("reply dropped", metadata: ["reason": "\(reason)", "replies_dropped": "\(dropped)"])
    }

    /// The reply to one request frame: the edge where the frame becomes a
    /// typed command. Every request renews its client's lease, even one
    /// whose op or fields are wrong.
    /// - Parameters:
    ///   - peer: the ROUTER's routing id of the connection.
    ///   - key: the sender's CURVE public key, if the ZAP handler gave it.
    ///   - envelope: where the reply goes; given, a `subscribe` whose tables'
    ///     peer inputs are not synced yet is held, and one whose snapshots
    ///     are still being sorted waits for them (nil returned, answered later).
    func answer(_ frame: [UInt8], peer: [UInt8], key: String?, envelope: [[UInt8]]? = nil) -> [UInt8]? {
        counters["requests", default: 0] += 1
        if let envelope, frame.count >= Self.readInStepsBytes {
            readInSteps(frame, peer: peer, key: key, envelope: envelope)
            return nil
        }
        let request: ControlRequest
        do {
            request = try ControlRequest(frame: frame, limits: options.limits)
        } catch {
            return refuse(op: nil, id: ControlRequest.bestEffortID(frame, limits: options.limits), error)
        }
        return answer(request, peer: peer, key: key, envelope: envelope)
    }

    /// The reply to a request read from its frame (`answer(_:peer:key:envelope:)`).
    func answer(_ request: ControlRequest, peer: [UInt8], key: String?, envelope: [[UInt8]]?) -> [UInt8]? {
        let client = clientIdentity(request, peer: peer, key: key)
        registry.renew(client, until: leaseDeadline)
        do {
            // A large simulate's changes take a while to check: the engine's pause serves the loop meanwhile.
            var pauses = PausePoints(behavior.policyEngine?.pause)
            let command = try ControlCommand(request, limits: options.limits, pausing: &pauses)
            if let envelope, try hold(command, id: request.id, client: client, envelope: envelope) { return nil }
            if let envelope, holdForSort(command, id: request.id, client: client, envelope: envelope) { return nil }
            return reply(to: command, id: request.id, client: client, envelope: envelope)
        } catch {
            return refuse(op: request.op, id: request.id, error, client: client)
        }
    }

    /// Who sent a request: its `client` id (else one made from its
    /// connection's routing id), scoped by its CURVE key.
    func clientIdentity(_ request: ControlRequest, peer: [UInt8], key: String?) -> ClientIdentity {
        ClientIdentity(request.client ?? "peer-" + peer.map { String($0, radix: 16) }.joined(), key: key)
    }

    /// Performs a command and encodes its reply, or its refusal.
    /// - Parameter envelope: where the reply goes; given, a `subscribe`
    ///   whose snapshots are still being sorted returns nil, and its reply
    ///   goes there once they are whole (`Node+Captures.swift`).
    func reply(to command: ControlCommand, id: JSON?, client: ClientIdentity, envelope: [[UInt8]]? = nil) -> [UInt8]? {
        do {
            if case .subscribe(let tables, let since) = command {
                let (body, capturing) = try subscribe(tables, since: since, client: client)
                if let envelope, !capturing.values.allSatisfy(captures.isDone) {
                    waitingReplies.append(WaitingReply(envelope: envelope, id: id, command: command, client: client, body: body, capturing: capturing))
                    scheduleServing()
                    return nil
                }
                return encoded(completed(body, capturing: capturing), id: id, command: command, client: client)
            }
            if let envelope, queueChange(command, id: id, client: client, envelope: envelope) { return nil }
            return encoded(try perform(command, client: client), id: id, command: command, client: client)
        } catch {
            return refuse(op: command.op, id: id, error, client: client)
        }
    }

    /// Encodes a command's reply, or its refusal.
    func encoded(_ body: any ControlReplyBody, id: JSON?, command: ControlCommand, client: ClientIdentity) -> [UInt8] {
        do {
            let reply = try ControlReply.ok(id: id, body, to: command, limits: options.limits)
            accepted(command, reply: reply, client: client)
            return reply
        } catch {
            return refuse(op: command.op, id: id, error, client: client)
        }
    }

    var leaseDeadline: UInt64 { monotonicNanoseconds() + .milliseconds(options.leaseMilliseconds) }

    /// Runs one command. The ops every node does are here; the others are the behaviour's.
    func perform(_ command: ControlCommand, client: ClientIdentity) throws(BusError) -> any ControlReplyBody {
        switch command {
        case .hello:
            return hello()
        case .subscribe(let tables, let since):
            let (body, capturing) = try subscribe(tables, since: since, client: client)
            return completed(body, capturing: capturing)
        case .unsubscribe(let tables):
            close(registry.unsubscribe(client, from: tables))
            subscriptionsChanged()
            return ControlReply.HeldTables(tables: registry.tables(of: client).sorted())
        case .renew:
            return ControlReply.HeldTables(tables: registry.tables(of: client).sorted())
        case .snapshotChunk(let snapshot, let offset):
            let (rows, more) = try captures.chunk(snapshot, offset: offset, now: monotonicNanoseconds())
            counters["snapshot_chunks", default: 0] += 1
            return ControlReply.SnapshotChunk(offset: offset, rows: rows, more: more)
        case .status(let page):
            return status(page)
        case .tables(let page):
            return tables(page)
        case .policyDelete(let name):
            let reply = try behavior.handle(command)
            // Its tables' subscribers got their deltas to empty; their next
            // renew shows the tables gone, and their resubscribe is refused.
            close(registry.drop(where: { $0.service == name }))
            subscriptionsChanged()
            return reply
        case .query, .rules, .facts, .explain, .policyCreate, .policyList, .simulate:
            return try behavior.handle(command)
        }
    }

    func hello() -> ControlReply.Hello {
        ControlReply.Hello(
            name: options.name, kind: behavior.kind, data: dataEndpoint, epoch: publisher.epoch,
            heartbeatMilliseconds: options.heartbeatMilliseconds, leaseMilliseconds: options.leaseMilliseconds)
    }

    /// Subscribes `client` to `tables`: the reply, and the captures its
    /// snapshots larger than a few steps wait for (their entries are filled
    /// in by `completed` once the captures are whole).
    func subscribe(
        _ tables: [TableID], since: ControlCommand.Since? = nil, client: ClientIdentity
    ) throws(BusError) -> (body: ControlReply.Subscribed, capturing: [TableID: String]) {
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
        let opening = Set(tables).filter { registry.subscriberCount($0) == 0 }.count
        let tableLimit = options.limits.maxSubscribedTables
        guard registry.subscribers.count + opening <= tableLimit else {
            throw BusError(.tooManySubscriptions, "\(registry.subscribers.count) tables have subscribers and this would add \(opening); the limit is \(tableLimit)")
        }
        for table in tables { try behavior.validate(table) }
        for table in tables where since.flatMap({ publisher.deltas(of: table, since: $0.seq, epoch: $0.epoch) }) == nil {
            try captures.checkRoom(for: table, seq: publisher.seq(table) ?? 0)
        }
        for table in registry.subscribe(client, to: tables, until: leaseDeadline) { behavior.open(table) }
        subscriptionsChanged()
        nodeContext.takeInSubscriptions()
        var snapshots: [TableID: ControlReply.Subscribed.Snapshot] = [:]
        var capturing: [TableID: String] = [:]
        for table in tables {
            let snapshot = publisher.snapshot(table)
            // A resume: the deltas the client missed, if the table's history has them all.
            if let since, let deltas = publisher.deltas(of: table, since: since.seq, epoch: since.epoch) {
                snapshots[table] = .init(seq: snapshot?.seq ?? 0, columns: snapshot?.columns, contents: .deltas(deltas))
            } else {
                // Captured once per seq, sorted a step at a time, read in chunks
                // when larger than one (`SnapshotCaptures`).
                let seq = snapshot?.seq ?? 0
                let id = try captures.capture(of: table, seq: seq, now: monotonicNanoseconds()) { behavior.rowSource(of: table) }
                capturing[table] = id
                snapshots[table] = .init(seq: seq, columns: snapshot?.columns, contents: .rows([]), sinceGiven: since != nil)
            }
        }
        return (ControlReply.Subscribed(hello: hello(), snapshots: snapshots), capturing)
    }

    /// A page of the tables; only the page's tables are counted.
    func tables(_ page: ControlCommand.Page) -> ControlReply.TableList {
        let (listed, more) = page.slice(behavior.listedTables)
        return ControlReply.TableList(tables: listed.map { table in
            .init(
                // The publisher remembers a closed table's seq (a reopened
                // table goes on from it), but an unpublished table's seq is 0.
                name: table, columns: behavior.columns(of: table), seq: publisher.isOpen(table) ? publisher.seq(table) ?? 0 : 0,
                rows: behavior.rowCount(of: table), subscribers: registry.subscriberCount(table))
        }, more: more)
    }

    /// A page of the clients, published tables and triggers (the same
    /// positions in each list), so that however many clients subscribe to
    /// however many tables, a reply stays small. In a long transaction's
    /// pause the engine is not touched: the reply holds the node's own
    /// state only (no rows, stale inputs or engine fields) and says it is busy.
    func status(_ page: ControlCommand.Page) -> ControlReply.Status {
        let now = monotonicNanoseconds()
        let busy = longWork.pausing
        let limit = ControlCommand.Page.statusLimit
        let (open, tablesMore) = page.slice(publisher.openTables.sorted(), defaultLimit: limit)
        var tables: [TableID: ControlReply.Status.Table] = [:]
        for table in open {
            tables[table] = .init(
                seq: publisher.seq(table) ?? 0, rows: busy ? nil : behavior.rowCount(of: table), subscribers: registry.subscriberCount(table),
                staleInputs: busy ? nil : behavior.staleInputs(of: table))
        }
        let (clients, subscriptionsMore) = page.slice(registry.clients.keys.sorted(), defaultLimit: limit)
        let subscriptions = clients.map { client in
            let entry = registry.clients[client]!
            return ControlReply.Status.Subscription(
                client: client, tables: entry.tables.sorted(), leaseMillisecondsLeft: entry.deadline > now ? (entry.deadline - now) / 1_000_000 : 0)
        }
        return ControlReply.Status(
            name: options.name, kind: behavior.kind, epoch: publisher.epoch, subscriptions: subscriptions,
            subscriptionsMore: subscriptionsMore, tables: tables, tablesMore: tablesMore,
            counters: counters.merging(["deltas": nodeContext.deltasSent, "snapshots_held": captures.count]) { $1 }, notReady: monitor.health.readinessFailures(),
            longestStallMicroseconds: loop.longestTurnNanoseconds / 1000, heapBytes: ProcessMemory.liveHeapBytes,
            residentBytes: ProcessMemory.residentBytes, busyMilliseconds: busy ? longWork.milliseconds(now: now) : nil,
            kindSpecific: busy ? nil : behavior.status(page))
    }
}
