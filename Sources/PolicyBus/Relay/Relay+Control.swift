import ZeroMQ

extension Relay {
    /// A downstream connection's own DEALER to the upstream node.
    final class Upstream {
        let socket: Socket
        var item: PollLoop.Item?
        /// When a request or reply last passed.
        var lastActive: UInt64
        /// Requests sent minus replies received (never below 0): a held
        /// `subscribe` keeps the connection however long it waits.
        var outstanding = 0

        init(socket: Socket, now: UInt64) {
            self.socket = socket
            lastActive = now
        }
    }

    /// Downstream requests, each up on its client's DEALER, frames after the
    /// routing id unchanged (a REQ's empty delimiter too), but for the
    /// `client` id of a client the relay knows by its CURVE key.
    func forwardRequests() {
        for _ in 0..<1000 {
            let frames: [[UInt8]]
            let key: String?
            do {
                // The user id is the client's CURVE key when the relay's ZAP
                // handler admitted the connection.
                guard let (received, userID) = try router.tryReceive(reading: .userID) else { return }
                frames = received
                key = userID.flatMap { $0.isEmpty ? nil : $0 }
            } catch {
                logger.warning("receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard frames.count >= 2, let upstream = upstream(for: frames[0]) else { continue }
            do {
                // An upstream that is down queues up to the DEALER's
                // high-water mark, then drops: the client asks again after its timeout.
                var request = Array(frames.dropFirst())
                if let key { scopeClient(of: &request, key: key) }
                guard try upstream.socket.trySend(request) else {
                    monitor.requestsDropped.increment()
                    logger.debug("request dropped: the upstream queue is full", metadata: ["endpoint": "\(options.upstreamControl)"])
                    continue
                }
                upstream.lastActive = monotonicNanoseconds()
                upstream.outstanding += 1
                monitor.requestsUp.passed(request)
            } catch {
                logger.warning("request forward failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The request's `client` id becomes `KEY|id`. The node sees every client
    /// of the relay under the relay's key, so without this two clients with
    /// different keys that send the same id would be one client there; with
    /// it they are two, as at a CURVE node (PROTOCOL.md §3). A Z85 key and
    /// `|` need no JSON escape. A request without a string `client` (the
    /// node derives an id from the connection, the relay's DEALER for this
    /// client alone) or that is not JSON goes up as it came.
    func scopeClient(of request: inout [[UInt8]], key: String) {
        // A REQ's empty delimiter comes first; the request frame follows it.
        let index = request.first?.isEmpty == true ? 1 : 0
        guard index < request.count,
            let scoped = TopLevelMember.prefixingString("client", in: request[index], with: Array(key.utf8) + [UInt8(ascii: "|")])
        else { return }
        request[index] = scoped
    }

    /// Replies on one client's DEALER, back to that client, `data` rewritten.
    func forwardReplies(to client: [UInt8], from upstream: Upstream) {
        for _ in 0..<1000 {
            let frames: [[UInt8]]
            do {
                guard let received = try upstream.socket.tryReceive() else { return }
                frames = received.map(advertisingRelayData)
            } catch {
                logger.warning("reply receive failed", metadata: ["error": "\(error)"])
                return
            }
            upstream.lastActive = monotonicNanoseconds()
            upstream.outstanding = max(upstream.outstanding - 1, 0)
            sendReply([client] + frames)
        }
    }

    /// Sends a reply downstream without ever blocking the loop, as a node
    /// does (`Node.send`): one that the client's connection has no room for
    /// (it reads its replies too slowly), or whose client is gone, is
    /// dropped, counted (`replies_dropped_total`) and logged at the 1st,
    /// 2nd, 4th... drop.
    func sendReply(_ frames: [[UInt8]]) {
        var reason = "the client reads its replies too slowly"
        do {
            if try router.trySend(frames) {
                monitor.repliesDown.passed(frames.dropFirst())
                return
            }
        } catch {
            reason = error.code == ZMQError.hostUnreachable ? "the client is gone" : "\(error)"
        }
        monitor.repliesDropped.increment()
        let dropped = monitor.repliesDropped.total
        guard dropped & (dropped - 1) == 0 else { return }
        logger.warning("reply dropped", metadata: ["reason": "\(reason)", "replies.dropped": "\(dropped)"])
    }

    /// A reply frame whose top-level `data` (the node's PUB) names the
    /// relay's XPUB instead; the relay itself follows the node's.
    func advertisingRelayData(_ frame: [UInt8]) -> [UInt8] {
        guard let (rewritten, upstreamData) = TopLevelMember.replacingString("data", in: frame, with: dataEndpoint) else { return frame }
        followUpstreamData(upstreamData)
        return rewritten
    }

    /// The client's DEALER, made and connected on its first request.
    func upstream(for client: [UInt8]) -> Upstream? {
        if let upstream = upstreams[client] { return upstream }
        do {
            let socket = try Socket(context, .dealer)
            try options.upstreamCurve?.apply(to: socket)
            try socket.connect(options.upstreamControl)
            let upstream = Upstream(socket: socket, now: monotonicNanoseconds())
            upstream.item = loop.add(socket) { [unowned self, unowned upstream] _ in forwardReplies(to: client, from: upstream) }
            upstreams[client] = upstream
            monitor.connections.record(upstreams.count)
            monitor.connectionsOpened.increment()
            logger.debug("client connected", metadata: ["clients": "\(upstreams.count)"])
            return upstream
        } catch {
            logger.warning("cannot connect upstream", metadata: ["endpoint": "\(options.upstreamControl)", "error": "\(error)"])
            return nil
        }
    }

    /// Closes the DEALERs of clients gone quiet: idle for the idle time with
    /// nothing outstanding, or for ten times it whatever.
    func closeIdle(now: UInt64) {
        let idle = UInt64.milliseconds(options.idleMilliseconds)
        for (client, upstream) in upstreams {
            let quiet = now - min(upstream.lastActive, now)
            guard quiet > idle && upstream.outstanding == 0 || quiet > idle * 10 else { continue }
            if let item = upstream.item { loop.remove(item) }
            upstream.socket.close()
            upstreams[client] = nil
            monitor.connections.record(upstreams.count)
            logger.debug("idle client closed", metadata: ["clients": "\(upstreams.count)"])
        }
    }
}
