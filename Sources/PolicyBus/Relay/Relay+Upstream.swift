import PolicyEngine
import ZeroMQ

extension Relay {
    /// What the relay knows of its upstream from its own `hello`s: whether
    /// it answers, and the epoch it answered with.
    struct UpstreamState {
        /// When the upstream last answered a probe; nil before its first answer.
        var lastAnswer: UInt64?
        var up = false
        var epoch: String?
        /// The last probe's `id`.
        var probesSent = 0
    }

    /// Sends the next `hello` on the relay's own DEALER, after marking the
    /// upstream lost if it has not answered for the upstream timeout. The
    /// DEALER is `ZMQ_IMMEDIATE`: while the upstream is unreachable the
    /// probe is not sent at all, rather than queued and sent as a burst later.
    func probeUpstream(now: UInt64) {
        if upstreamState.up, let last = upstreamState.lastAnswer, now - min(last, now) > .milliseconds(options.upstreamTimeoutMilliseconds) {
            upstreamState.up = false
            monitor.upstreamUp.record(0)
            let reason = "no answer for \((now - last) / 1_000_000) ms"
            monitor.health.fail(.upstream(options.upstreamControl), reason)
            logger.warning("upstream lost", metadata: ["endpoint": "\(options.upstreamControl)", "reason": "\(reason)"])
        }
        upstreamState.probesSent += 1
        var hello = JSONWriter()
        hello.json(.object(["op": .string("hello"), "id": .int(Int64(upstreamState.probesSent))]))
        do {
            _ = try probe.trySend([hello.bytes])
        } catch {
            logger.warning("probe failed", metadata: ["endpoint": "\(options.upstreamControl)", "error": "\(error)"])
        }
    }

    /// Answers to the probes: the upstream is up, its data endpoint is
    /// followed, and a new epoch (a restart quicker than the timeout) counts
    /// as a reconnect.
    func readProbeAnswers() {
        while true {
            let frames: [[UInt8]]
            do {
                guard let received = try probe.tryReceive() else { return }
                frames = received
            } catch {
                logger.warning("probe receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard let frame = frames.last, let reply = try? JSON.parse(frame) else { continue }
            let answeredBefore = upstreamState.lastAnswer != nil
            upstreamState.lastAnswer = monotonicNanoseconds()
            if let data = reply["data"]?.stringValue { followUpstreamData(data) }
            let epoch = reply["epoch"]?.stringValue
            if !upstreamState.up {
                upstreamState.up = true
                monitor.upstreamUp.record(1)
                monitor.health.pass(.upstream(options.upstreamControl))
                if answeredBefore { monitor.upstreamReconnects.increment() }
                logger.info(answeredBefore ? "upstream regained" : "upstream connected",
                            metadata: ["endpoint": "\(options.upstreamControl)", "epoch": "\(epoch ?? "-")"])
            } else if let epoch, let was = upstreamState.epoch, epoch != was {
                monitor.upstreamReconnects.increment()
                logger.info("upstream restarted", metadata: ["endpoint": "\(options.upstreamControl)", "epoch": "\(epoch)", "was": "\(was)"])
            }
            if let epoch { upstreamState.epoch = epoch }
        }
    }
}
