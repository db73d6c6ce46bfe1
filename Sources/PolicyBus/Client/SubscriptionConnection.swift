import Logging
import PolicyEngine
import Synchronization
import ZeroMQ

/// A `SubscriptionSession` on a `PollLoop`: the sockets the session's
/// actions need, and the loop's calls that feed it.
///
/// It owns a DEALER (control), a SUB (data) and a PAIR that reports the SUB's
/// handshakes, adds them to the loop with a 100 ms tick, reads the clock for
/// the session, performs its actions, and hands its events to `onEvents`.
/// The CLI's `subscribe`, the `Subscriber` library and an engine's peers use
/// it. Not `Sendable`: it lives on its loop's thread.
public final class SubscriptionConnection {
    /// The protocol state.
    public internal(set) var session: SubscriptionSession
    /// Called on the loop's thread with each batch of events.
    public var onEvents: ([SubscriptionSession.Event]) -> Void = { _ in }
    /// Called after each batch of data messages read (tests of slow readers
    /// pace the loop with it, with `maxBatch` 1).
    public var afterDataBatch: () -> Void = {}
    /// Most data messages handled per batch.
    public var maxBatch = 10_000
    var logger: Logger

    let loop: PollLoop
    let dealer: Socket
    let sub: Socket
    /// Handshake events of `sub`: a new data connection is joined once one arrives.
    let dataMonitor: Socket
    let handshake: HandshakeWatch?
    var items: [PollLoop.Item] = []
    var ticker: PollLoop.Timer?
    /// Reused by every data message received: similar messages then need no new storage.
    var frames: [[UInt8]] = []
    /// Data messages read while the owner was busy (`readWhileBusy`), and their bytes.
    var readEarly: [[UInt8]] = []
    var readEarlyBytes = 0
    /// Most bytes `readWhileBusy` holds; past it, the SUB's own queue (and
    /// its high-water mark) takes the rest, as when nothing reads it.
    public var maxReadEarlyBytes = 64 << 20
    private static let monitorCounter = Atomic<Int>(0)

    /// Why the control connection's security handshake failed, if it did
    /// (a refused key, a wrong server key); nil otherwise.
    public var handshakeFailure: String? { handshake?.poll() }

    /// Why the node has not answered, for a timeout's message (see `HandshakeWatch.noAnswerCause`).
    public var noAnswerCause: String { handshake?.noAnswerCause() ?? HandshakeWatch.unreachable }

    /// Connects to a node and starts the session on `loop`.
    /// - Parameters:
    ///   - loop: the loop of the calling thread, which owns the sockets from now on.
    ///   - context: the ZeroMQ context.
    ///   - controlEndpoint: the node's control endpoint.
    ///   - clientID: the `client` sent with every request.
    ///   - receiveHighWaterMark: the SUB socket's RCVHWM (default libzmq's 1000).
    /// - Throws: `BusError` `transport` if a socket cannot be set up.
    public init(
        loop: PollLoop, context: Context, controlEndpoint: String, clientID: String = randomClientID(),
        receiveHighWaterMark: Int32? = nil, logger: Logger = Logger(label: "policybus.client"),
        curve: CurveClientConfiguration? = nil
    ) throws(BusError) {
        self.loop = loop
        self.logger = logger
        session = SubscriptionSession(controlEndpoint: controlEndpoint, clientID: clientID, logger: logger)
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
        items = [
            loop.add(dealer) { [unowned self] _ in readReplies() },
            loop.add(sub) { [unowned self] _ in readData() },
            loop.add(dataMonitor) { [unowned self] _ in readDataMonitor() },
        ]
        ticker = loop.every(milliseconds: 100) { [unowned self] now in tick(now: now) }
    }

    /// Stops using the loop and closes the sockets; the node's lease ends
    /// the subscriptions.
    public func close() {
        for item in items { loop.remove(item) }
        items = []
        if let ticker { loop.cancel(ticker) }
        ticker = nil
        dealer.close()
        sub.close()
        dataMonitor.close()
        handshake?.close()
    }

    // MARK: - The owner's requests

    /// Subscribes to tables. Snapshots and deltas arrive through `onEvents`.
    public func subscribe(_ tables: [TableID]) {
        session.subscribe(tables, now: monotonicNanoseconds())
        perform()
    }

    /// Unsubscribes from tables.
    public func unsubscribe(_ tables: [TableID]) {
        session.unsubscribe(tables, now: monotonicNanoseconds())
        perform()
    }

    /// Unsubscribes from everything and waits (at most `timeoutMilliseconds`)
    /// for the node to confirm, so its triggers go at once rather than at
    /// lease expiry; replies to other requests that arrive meanwhile are
    /// handled, their events dropped. Blocks: call it when done, after the
    /// loop stopped, then `close()`.
    public func unsubscribeAll(timeoutMilliseconds: Int) {
        let start = monotonicNanoseconds()
        guard let id = session.unsubscribeAll(now: start) else { return }
        perform()
        let deadline = start + .milliseconds(timeoutMilliseconds)
        while session.isWaiting(for: id) {
            let now = monotonicNanoseconds()
            guard now < deadline else { return }
            do {
                try dealer.set(.receiveTimeout, Int32(clamping: (deadline - now) / 1_000_000 + 1))
                guard let frame = try dealer.receive().last else { continue }
                _ = session.receiveReply(frame, now: monotonicNanoseconds())
            } catch {
                return  // EAGAIN: the timeout passed.
            }
        }
    }

    // MARK: - The loop's calls

    func readReplies() {
        var events: [SubscriptionSession.Event] = []
        while let frames = try? dealer.tryReceive() {
            guard let frame = frames.last else { continue }
            events += session.receiveReply(frame, now: monotonicNanoseconds())
        }
        finish(events)
    }

    /// Reads the SUB's data messages without handling them, for an owner
    /// whose long work holds the loop (an engine's transaction, paused):
    /// the SUB's queue then does not fill up and drop messages meanwhile.
    /// The next `readData` handles them first, in order. Sends the lease's
    /// renew when due (its reply is read after). Touches the sockets, a
    /// buffer and the session's requests only, so it is safe from inside
    /// `onEvents` (no access to the session is under way there).
    public func readWhileBusy() {
        var message: [[UInt8]] = []
        while readEarlyBytes < maxReadEarlyBytes, (try? sub.receive(into: &message, dontWait: true)) == true {
            guard message.count == 1 else { continue }
            readEarly.append(message[0])
            readEarlyBytes += message[0].count
        }
        // The lease too, or a transaction longer than it loses the subscriptions.
        session.renewIfDue(now: monotonicNanoseconds())
        perform()
    }

    func readData() {
        var events: [SubscriptionSession.Event] = []
        let now = monotonicNanoseconds()
        if !readEarly.isEmpty {
            let early = readEarly
            readEarly = []
            readEarlyBytes = 0
            for frame in early { session.receiveData(frame, now: now, into: &events) }
        }
        for _ in 0..<maxBatch {
            guard (try? sub.receive(into: &frames, dontWait: true)) == true else { break }
            guard frames.count == 1 else {
                logger.debug("dropped a malformed data message")
                continue
            }
            session.receiveData(frames[0], now: now, into: &events)
        }
        finish(events)
        afterDataBatch()
    }

    /// Reads the SUB's queued handshake events; a handshake lets a snapshot
    /// request waiting for it go.
    func readDataMonitor() {
        guard drainDataMonitor() else { return }
        session.dataJoined(now: monotonicNanoseconds())
        perform()
    }

    /// Reads the SUB's queued handshake events; returns whether any arrived.
    func drainDataMonitor() -> Bool {
        var handshakes = false
        while let frames = try? dataMonitor.tryReceive() {
            if MonitorEvent(frames: frames)?.event == .handshakeSucceeded { handshakes = true }
        }
        return handshakes
    }

    func tick(now: UInt64) {
        // Every reconnection adds a handshake event: read them all, so that a
        // long-lived session's monitor pipe never fills up and blocks libzmq.
        handshake?.poll()
        // A long turn of the loop (a large snapshot applied) can end with this
        // tick before the SUB's handler: what arrived meanwhile is heard first,
        // so the silence check measures the publisher, not the loop.
        readData()
        finish(session.tick(now: monotonicNanoseconds()))
    }

    /// Performs the session's actions, then hands the events on.
    func finish(_ events: [SubscriptionSession.Event]) {
        perform()
        if !events.isEmpty { onEvents(events) }
    }

    /// Does what the session asked for, in order.
    func perform() {
        for action in session.takeActions() {
            switch action {
            case .send(let frame):
                do {
                    _ = try dealer.trySend([frame])
                } catch {
                    logger.warning("control send failed", metadata: ["error": "\(error)"])
                }
            case .listen(let table):
                do { try sub.set(.subscribe, DataMessage.topic(table)) } catch {
                    logger.warning("SUB subscribe failed", metadata: ["error": "\(error)"])
                }
            case .stopListening(let table):
                try? sub.set(.unsubscribe, DataMessage.topic(table))
            case .connectData(let endpoint, let old):
                if let old { try? sub.disconnect(old) }
                _ = drainDataMonitor()  // events of an old connection must not count for the new one
                do {
                    try sub.connect(endpoint)
                } catch {
                    logger.warning("cannot connect SUB", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
                    session.dataConnectFailed()
                }
            }
        }
    }
}
