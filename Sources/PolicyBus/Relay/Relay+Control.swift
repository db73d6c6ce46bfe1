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
    /// routing id unchanged (a REQ's empty delimiter too).
    func forwardRequests() {
        for _ in 0..<1000 {
            let frames: [[UInt8]]
            do {
                guard let received = try router.tryReceive() else { return }
                frames = received
            } catch {
                logger.warning("receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard frames.count >= 2, let upstream = upstream(for: frames[0]) else { continue }
            do {
                // An upstream that is down queues up to the DEALER's
                // high-water mark, then drops: the client asks again after its timeout.
                let request = Array(frames.dropFirst())
                guard try upstream.socket.trySend(request) else {
                    monitor.requestsDropped.increment()
                    logger.debug("request dropped: the upstream queue is full", metadata: ["endpoint": "\(options.upstreamControl)"])
                    continue
                }
                upstream.lastActive = monotonicNanoseconds()
                upstream.outstanding += 1
                counts.requests += 1
                monitor.requestsUp.passed(request)
            } catch {
                logger.warning("request forward failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Replies on one client's DEALER, back to that client, `data` rewritten.
    func forwardReplies(to client: [UInt8], from upstream: Upstream) {
        for _ in 0..<1000 {
            do {
                guard var frames = try upstream.socket.tryReceive() else { return }
                for index in frames.indices { frames[index] = advertisingRelayData(frames[index]) }
                try router.send([client] + frames)
                upstream.lastActive = monotonicNanoseconds()
                upstream.outstanding = max(upstream.outstanding - 1, 0)
                counts.replies += 1
                monitor.repliesDown.passed(frames)
            } catch {
                logger.warning("reply forward failed", metadata: ["error": "\(error)"])
                return
            }
        }
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
            counts.clientsOpened += 1
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
