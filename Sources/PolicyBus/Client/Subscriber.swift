import Logging
import PolicyEngine
import Synchronization
import ZeroMQ

/// Subscribes to tables at a node and keeps their current contents.
///
/// Its sockets live on a dedicated thread (never the cooperative pool), whose
/// `PollLoop` drives a `SubscriptionConnection`: SUB before snapshot, ordered
/// deltas, automatic resync on a gap, a new epoch or silence, lease renewal. Read the contents
/// with `rows(of:)` from anywhere, and follow `changes`:
///
/// ```swift
/// let subscriber = try Subscriber(connect: "tcp://127.0.0.1:5555", tables: [TableID("alice:error")!])
/// for await change in subscriber.changes {
///     if case .delta(let table, let added, let removed, _) = change { ... }
/// }
/// ```
///
/// Ending the iteration (or cancelling its task) unsubscribes and stops the
/// thread; so does `close()`. The thread keeps the subscriber alive until
/// then, so call `close()` if you never iterate `changes`.
public final class Subscriber: Sendable {
    /// One change to a subscribed table.
    public enum Change: Hashable, Sendable {
        /// The table's full contents: the first time, and after every resync.
        case snapshot(TableID, rows: Set<Row>, seq: UInt64)
        /// A change on top of the contents.
        case delta(TableID, added: [Row], removed: [Row], seq: UInt64)
        /// The contents went stale; a fresh `.snapshot` follows, or, when the
        /// node still had them, the missed `.delta`s.
        case resync(TableID, reason: TableSubscription.ResyncReason)
        /// The node refused the subscription (e.g. `unknown-policy`), or the
        /// security handshake failed (`transport`, naming the cause); a
        /// handshake failure ends the stream.
        case failed(TableID, BusError)

        /// The table the change is about.
        public var table: TableID {
            switch self {
            case .snapshot(let table, _, _), .delta(let table, _, _, _), .resync(let table, _), .failed(let table, _): table
            }
        }
    }

    /// The changes, in order. Iterate it once.
    public let changes: AsyncStream<Change>
    private let state: SubscriberState

    /// Starts subscribing.
    /// - Parameters:
    ///   - endpoint: the node's control endpoint.
    ///   - tables: qualified table names.
    ///   - context: a ZeroMQ context (a new one by default). A subscriber
    ///     holds four sockets, and libzmq allows 1023 per context, so share
    ///     one context among at most about 250 subscribers.
    ///   - receiveHighWaterMark: the SUB socket's RCVHWM.
    ///   - logger: where resyncs and failures are logged (debug/warning).
    ///   - curve: the node's public key and this client's key pair, for a CURVE node.
    ///   - bufferLimit: the most changes `changes` holds for a consumer that
    ///     falls behind. Past it, a table's deltas are dropped, and once there
    ///     is room again the consumer gets the table's current contents as a
    ///     `.snapshot`: memory stays bounded and nothing is silently lost.
    /// - Throws: `BusError` `transport` if the sockets cannot be set up.
    public init(
        connect endpoint: String, tables: [TableID], context: Context? = nil, receiveHighWaterMark: Int32? = nil,
        logger: Logger = Logger(label: "policybus.subscriber"), curve: CurveClientConfiguration? = nil,
        bufferLimit: Int = 100_000
    ) throws(BusError) {
        let shared: Context
        let loop: PollLoop
        do {
            shared = try context ?? Context()
            loop = try PollLoop()
        } catch {
            throw BusError(.transport, "\(error)")
        }
        let state = SubscriberState(remote: loop.remote)
        self.state = state
        let (stream, continuation) = AsyncStream.makeStream(of: Change.self, bufferingPolicy: .bufferingOldest(max(1, bufferLimit)))
        changes = stream
        continuation.onTermination = { _ in state.stop() }
        let thread = BlockingThread(name: "subscriber") {
            state.run(loop: loop, context: shared, endpoint: endpoint, tables: tables, receiveHighWaterMark: receiveHighWaterMark,
                logger: logger, curve: curve, continuation: continuation)
        }
        state.thread.withLock { $0 = thread }
    }

    deinit { state.stop() }

    /// The current contents of a table, or nil before its first snapshot (or during a resync).
    public func rows(of table: TableID) -> Set<Row>? {
        state.contents.withLock { $0[table] }
    }

    /// Unsubscribes and stops the thread. Idempotent; returns at once.
    public func close() { state.stop() }

    /// Waits for the thread to finish after `close()`; call from a thread that may block.
    public func join() {
        state.thread.withLock { $0 }?.join()
    }
}

/// What the subscriber's thread shares with the `Subscriber` handle. The
/// thread holds this, not the handle, so dropping the handle (and its stream)
/// stops the thread.
final class SubscriberState: Sendable {
    let contents = Mutex<[TableID: Set<Row>]>([:])
    let remote: PollLoop.Remote
    let thread: Mutex<BlockingThread?> = Mutex(nil)

    init(remote: PollLoop.Remote) { self.remote = remote }

    func stop() { remote.stop() }

    /// The thread's body: the connection on `loop` until a stop, then an
    /// unsubscribe.
    func run(
        loop: PollLoop, context: Context, endpoint: String, tables: [TableID], receiveHighWaterMark: Int32?, logger: Logger,
        curve: CurveClientConfiguration? = nil, continuation: AsyncStream<Subscriber.Change>.Continuation
    ) {
        defer { continuation.finish() }
        let connection: SubscriptionConnection
        do {
            connection = try SubscriptionConnection(
                loop: loop, context: context, controlEndpoint: endpoint, receiveHighWaterMark: receiveHighWaterMark, logger: logger,
                curve: curve)
        } catch {
            for table in tables { continuation.yield(.failed(table, error)) }
            return
        }
        var behind = Set<TableID>()
        connection.onEvents = { [unowned connection] events in
            self.publish(events, session: connection.session, behind: &behind, continuation: continuation)
            self.catchUp(&behind, session: connection.session, continuation: continuation)
        }
        loop.every(milliseconds: 100) { [unowned connection] _ in
            self.catchUp(&behind, session: connection.session, continuation: continuation)
            if connection.session.repliesReceived == 0, let failure = connection.handshakeFailure {
                // A refused key or a wrong server key never heals by retrying: say so and stop.
                for table in tables { continuation.yield(.failed(table, BusError(.transport, failure))) }
                loop.stop()
            }
        }
        connection.subscribe(tables)
        do { try loop.run() } catch {
            logger.debug("subscriber loop stopped", metadata: ["error": "\(error)"])
        }
        connection.unsubscribeAll(timeoutMilliseconds: 500)
        connection.close()
    }

    /// Updates the contents first, so that a consumer reading `rows(of:)`
    /// when it gets a change sees at least that change.
    ///
    /// A table in `behind` had a change dropped (the consumer's buffer was
    /// full): its deltas are skipped until a snapshot of it gets through.
    func publish(
        _ events: [SubscriptionSession.Event], session: SubscriptionSession, behind: inout Set<TableID>,
        continuation: AsyncStream<Subscriber.Change>.Continuation
    ) {
        guard !events.isEmpty else { return }
        var changes: [Subscriber.Change] = []
        var changed: Set<TableID> = []
        for event in events {
            switch event {
            case .table(let table, .snapshot(let rows, let seq)):
                changed.insert(table)
                changes.append(.snapshot(table, rows: rows, seq: seq))
            case .table(let table, .delta(let added, let removed, let seq)):
                changed.insert(table)
                changes.append(.delta(table, added: added, removed: removed, seq: seq))
            case .table(let table, .resync(let reason)):
                changed.insert(table)
                changes.append(.resync(table, reason: reason))
            case .columns, .table(_, .resumed):
                continue
            case .failed(let table, let error):
                changed.insert(table)
                changes.append(.failed(table, error))
            }
        }
        let current = changed.map { ($0, session.rows(of: $0)) }
        contents.withLock { contents in
            for (table, rows) in current { contents[table] = rows }
        }
        for change in changes {
            let table = change.table
            switch change {
            case .snapshot:
                // A snapshot replaces whatever the consumer missed, so it ends `behind`.
                switch continuation.yield(change) {
                case .enqueued: behind.remove(table)
                case .dropped: behind.insert(table)
                default: break
                }
            case .failed:
                // Not skipped even when behind: no later snapshot would report it.
                continuation.yield(change)
            case .delta, .resync:
                if !behind.contains(table), case .dropped = continuation.yield(change) { behind.insert(table) }
            }
        }
    }

    /// Offers each table that fell behind its current contents, once the
    /// consumer has made room. A table in the middle of a resync gets its
    /// snapshot through `publish` instead.
    func catchUp(_ behind: inout Set<TableID>, session: SubscriptionSession, continuation: AsyncStream<Subscriber.Change>.Continuation) {
        for table in behind {
            guard let rows = session.rows(of: table), let seq = session.seq(of: table) else { continue }
            guard case .enqueued = continuation.yield(.snapshot(table, rows: rows, seq: seq)) else { return }
            behind.remove(table)
        }
    }
}
