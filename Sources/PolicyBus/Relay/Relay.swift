import CoreMetrics
import Logging
import ZeroMQ

/// `policybus relay`: a node's control and data endpoints served again,
/// somewhere else, so that subscribers use it exactly as they use the node.
///
/// - **Data**: an XSUB connected upstream and an XPUB bound downstream.
///   Subscriptions pass upstream; every data frame (deltas, heartbeats, with
///   their seq and epoch) passes down unchanged.
/// - **Control**: a ROUTER bound downstream and, per downstream connection,
///   one DEALER upstream. Each request goes up on its client's own DEALER
///   and its replies come back to that client, so ids, ordering, envelopes,
///   held replies and multi-message replies need no bookkeeping, and a
///   client without a `client` id is still one connection to the node. The
///   one change: a reply's top-level `data` (hello, subscribe) becomes the
///   relay's data endpoint, since that is where its subscriber listens.
///
/// - **Upstream watch**: the relay's own DEALER asks the upstream `hello`
///   every second. Its answers say the upstream is up (`/readyz`) and where
///   its data endpoint is, so the XSUB connects before any client asks.
///
/// One `PollLoop` on one thread owns every socket. Not `Sendable`: create
/// it, and call ``run()``, on that thread; stop it through ``remote``.
public final class Relay {
    public let options: RelayOptions
    /// The bound control endpoint (wildcard port resolved).
    public let controlEndpoint: String
    /// The bound data endpoint (wildcard port resolved); replies advertise it.
    public let dataEndpoint: String
    /// Stops the relay from any thread.
    public var remote: PollLoop.Remote { loop.remote }
    var logger: Logger { options.logger }

    let context: Context
    let loop: PollLoop
    let router: Socket
    let xpub: Socket
    let xsub: Socket
    /// The relay's own DEALER to the upstream control endpoint, for `hello`s.
    let probe: Socket
    let monitor: RelayMonitor
    var upstreamState = UpstreamState()
    /// Topics the downstream subscribers hold (the XPUB passes each once).
    var topicCount = 0
    /// The upstream data endpoint the XSUB is connected to.
    private(set) var upstreamData: String?
    /// Each downstream connection's DEALER, by its ROUTER routing id.
    var upstreams: [[UInt8]: Upstream] = [:]

    /// Binds the downstream sockets and connects the XSUB (when the upstream
    /// data endpoint is given).
    /// - Throws: `BusError` `transport` when a socket cannot be set up.
    public init(options: RelayOptions, context: Context) throws(BusError) {
        self.options = options
        self.context = context
        do {
            loop = try PollLoop()
            router = try Socket(context, .router)
            try router.set(.maxMessageSize, Int64(options.maxMessageSize))
            try router.set(.receiveHighWaterMark, options.maxUnreadRequests)
            // A reply the ROUTER cannot queue (the client reads too slowly, or
            // is gone) fails instead of vanishing, so that it is counted and
            // logged, as at a node.
            try router.set(.routerMandatory, true)
            try options.curve?.apply(to: router)
            try router.bind(options.control)
            controlEndpoint = try router.lastEndpoint
            xpub = try Socket(context, .xpub)
            try xpub.set(.sendHighWaterMark, options.sendHighWaterMark)
            try options.curve?.apply(to: xpub)
            try xpub.bind(options.data ?? NodeOptions.defaultData(for: options.control))
            dataEndpoint = try xpub.lastEndpoint
            xsub = try Socket(context, .xsub)
            try xsub.set(.receiveHighWaterMark, options.sendHighWaterMark)
            try options.upstreamCurve?.apply(to: xsub)
            probe = try Socket(context, .dealer)
            try probe.set(.immediate, true)
            try options.upstreamCurve?.apply(to: probe)
            try probe.connect(options.upstreamControl)
        } catch {
            throw BusError(.transport, "cannot bind: \(error)")
        }
        monitor = RelayMonitor(health: options.health, factory: options.metricsFactory ?? MetricsSystem.factory)
        monitor.health.fail(.upstream(options.upstreamControl), "no answer yet")
        if let data = options.upstreamData { followUpstreamData(data) }
    }

    // MARK: - Loop

    /// Forwards until stopped through ``remote``.
    public func run() {
        logger.info("relay started", metadata: [
            "relay": "\(options.name)", "control": "\(controlEndpoint)", "data": "\(dataEndpoint)",
            "upstream.control": "\(options.upstreamControl)", "upstream.data": "\(upstreamData ?? "-")",
        ])
        loop.add(xsub) { [unowned self] _ in forwardData() }
        loop.add(xpub) { [unowned self] _ in forwardSubscriptions() }
        loop.add(router) { [unowned self] _ in forwardRequests() }
        loop.add(probe) { [unowned self] _ in readProbeAnswers() }
        // The stall check's turn: a loop busy in a handler misses its timers too.
        loop.every(milliseconds: 100) { [unowned self] now in monitor.health.loopTurned(now: now) }
        monitor.health.loopTurned()
        probeUpstream(now: monotonicNanoseconds())
        loop.every(milliseconds: options.probeMilliseconds) { [unowned self] now in probeUpstream(now: now) }
        loop.every(milliseconds: 1000) { [unowned self] now in closeIdle(now: now) }
        do {
            try loop.run()
        } catch {
            logger.error("poll failed", metadata: ["error": "\(error)"])
        }
        for upstream in upstreams.values { upstream.socket.close() }
        upstreams.removeAll()
        for socket in [router, xpub, xsub, probe] { socket.close() }
        logger.info("relay stopped", metadata: monitor.totals.merging(["relay": "\(options.name)"]) { $1 })
    }

    // MARK: - Data

    /// Upstream data frames, down to every downstream subscriber. The XPUB
    /// never blocks: a subscriber past its high-water mark loses frames, and
    /// its seq check makes it resync, as at a node's PUB.
    func forwardData() {
        var frames: [[UInt8]] = []
        for _ in 0..<1000 {
            do {
                guard try xsub.receive(into: &frames, dontWait: true) else { return }
                _ = try xpub.trySend(frames)
                monitor.dataDown.passed(frames)
            } catch {
                logger.warning("data forward failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// Downstream (un)subscriptions, up to the node. The XPUB passes a topic's
    /// first subscribe and last unsubscribe; the XSUB keeps its set, and
    /// sends it again when it reconnects (a restarted node).
    func forwardSubscriptions() {
        var frames: [[UInt8]] = []
        for _ in 0..<1000 {
            do {
                guard try xpub.receive(into: &frames, dontWait: true) else { return }
                _ = try xsub.trySend(frames)
                monitor.subscriptionsUp.passed(frames)
                // [1, topic...] subscribes, [0, topic...] unsubscribes.
                if let kind = frames.first?.first, kind <= 1 {
                    topicCount = max(topicCount + (kind == 1 ? 1 : -1), 0)
                    monitor.topics.record(topicCount)
                }
            } catch {
                logger.warning("subscription forward failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// Connects the XSUB to `advertised` (a wildcard host means the upstream
    /// control host, PROTOCOL.md §1), then leaves the endpoint it had. An
    /// endpoint it cannot connect to leaves it where it was: still connected
    /// to the old one, which it tries again at the next reply naming it.
    func followUpstreamData(_ advertised: String) {
        let endpoint = DataEndpoint.resolve(advertised, control: options.upstreamControl)
        guard endpoint != upstreamData else { return }
        do {
            try xsub.connect(endpoint)
        } catch {
            logger.warning("cannot connect to the upstream data endpoint", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
            return
        }
        if let upstreamData {
            do {
                try xsub.disconnect(upstreamData)
            } catch {
                logger.warning("cannot disconnect from the old upstream data endpoint", metadata: ["endpoint": "\(upstreamData)", "error": "\(error)"])
            }
        }
        logger.info("upstream data endpoint", metadata: ["endpoint": "\(endpoint)", "was": "\(upstreamData ?? "-")"])
        upstreamData = endpoint
    }
}

@available(*, unavailable)
extension Relay: Sendable {}
