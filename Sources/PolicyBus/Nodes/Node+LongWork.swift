import Logging
import PolicyEngine
import ZeroMQ

/// Long engine work (a transaction of seconds: a rule that derives much, a
/// large peer snapshot, a simulation, an explanation) pauses every loop
/// budget for the loop's duties that need no engine (`Engine.pause`), so
/// that subscribers keep hearing heartbeats and the node keeps reading its
/// sockets. The engine is never touched in a pause: no engine request is
/// served, no lease expires, no table closes and no peer data is applied;
/// those wait for the transaction's end.
extension Node {
    /// The long work in progress, as the node sees it from its pauses.
    struct LongWork {
        /// Whether the node is in a pause now: a `status` read there is
        /// answered from the node's own state (`Node.status`).
        var pausing = false
        /// When the loop's turn that runs the work began.
        var since: UInt64 = 0
        /// The loop's `lastServedNanoseconds` as the last pause left it. Any
        /// other value at a pause means the loop turned since (it sets it at
        /// each turn's start and end): the pause is new work's first.
        var lastServed: UInt64 = 0

        /// How long the loop has been in the work: at least the transaction's time so far.
        func milliseconds(now: UInt64) -> UInt64 { (now - min(since, now)) / 1_000_000 }
    }

    /// The engine's pause: when half a loop budget has passed since the
    /// loop was last served, sends the heartbeats that are due, reads the control
    /// socket into the request queues (`readRequests(whileBusy:)`) and the
    /// peers' data into their connections (applied after the transaction).
    /// Heartbeats carry only seqs, which move when triggers fire after a
    /// commit, never mid-transaction.
    /// - Returns: false when the node is stopping: the engine then rolls
    ///   the transaction back, and the loop ends after it.
    func pauseLongWork() -> Bool {
        if loop.isStopping { return false }
        let now = monotonicNanoseconds()
        // Half: the engine calls at the end of a slice of rows, so a pause
        // comes up to one slice after it is due, and the loop's longest gap
        // must stay within the whole budget. (At the whole budget, gaps were
        // 51-65 ms.) A pause that finds nothing to do costs a few polls.
        guard now - min(now, loop.lastServedNanoseconds) >= .milliseconds(options.limits.loopBudgetMilliseconds) / 2 else { return true }
        counters["long_work_pauses", default: 0] += 1
        if loop.lastServedNanoseconds != longWork.lastServed { longWork.since = loop.lastServedNanoseconds }
        monitor.health.loopTurned()
        if now - min(now, lastHeartbeats) >= .milliseconds(options.heartbeatMilliseconds) { sendHeartbeats() }
        longWork.pausing = true
        readRequests(whileBusy: true)
        answerWaitingWhileBusy()
        longWork.pausing = false
        behavior.readWhileBusy()
        loop.served()
        longWork.lastServed = loop.lastServedNanoseconds
        return !loop.isStopping
    }

    /// The ops a pause answers: none reads the engine.
    static let answerableWhileBusy: Set<String> = ["hello", "renew", "status"]

    /// A request read while long work pauses. Its client's lease is renewed
    /// (the client is waiting for the node, not gone); a `hello`, `renew` or
    /// `status` from a connection with nothing waiting, and not the one whose
    /// request runs, is answered at once: they need only the node's own
    /// state (`status` a part of it, marked busy). Other requests, and
    /// frames too large to read here, wait their turn.
    /// - Returns: whether it was answered.
    func answeredWhileBusy(_ request: RequestQueue.Request) -> Bool {
        guard let parsed = smallRequest(request) else { return false }
        let peer = request.frames[0]
        registry.renew(clientIdentity(parsed, peer: peer, key: request.userID), until: leaseDeadline)
        guard Self.answerableWhileBusy.contains(parsed.op), servingPeer != peer, !requestQueue.hasWaiting(from: peer) else { return false }
        answerInPause(request)
        return true
    }

    /// Answers the first waiting request of other connections when a pause
    /// may: a `status` read in the same turn as the request whose work
    /// pauses waits behind it in the queue, and would be answered only
    /// after it. (At most 64 connections a pause: a head that must wait is
    /// parsed again at each.)
    func answerWaitingWhileBusy() {
        let answerable = requestQueue.takeFirst(except: servingPeer, lookingAt: 64) { request in
            smallRequest(request).map { Self.answerableWhileBusy.contains($0.op) } ?? false
        }
        for request in answerable { answerInPause(request) }
    }

    /// The request, parsed, when it is one small frame (what a pause reads).
    private func smallRequest(_ request: RequestQueue.Request) -> ControlRequest? {
        let frames = request.frames
        guard frames.count - envelope(of: frames).count == 1, frames.count <= options.limits.maxFramesPerMessage,
            let frame = frames.last, frame.count <= Self.busyIDScanBytes
        else { return nil }
        return try? ControlRequest(frame: frame, limits: options.limits)
    }

    private func answerInPause(_ request: RequestQueue.Request) {
        let envelope = envelope(of: request.frames)
        guard let frame = request.frames.last, let reply = answer(frame, peer: request.frames[0], key: request.userID, envelope: envelope) else { return }
        send(reply, to: envelope)
    }
}
