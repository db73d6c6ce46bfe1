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
    /// The engine's pause: when a loop budget has passed since the loop was
    /// last served, sends the heartbeats that are due, reads the control
    /// socket into the request queues (`readRequests(whileBusy:)`) and the
    /// peers' data into their connections (applied after the transaction).
    /// Heartbeats carry only seqs, which move when triggers fire after a
    /// commit, never mid-transaction.
    /// - Returns: false when the node is stopping: the engine then rolls
    ///   the transaction back, and the loop ends after it.
    func pauseLongWork() -> Bool {
        if loop.isStopping { return false }
        let now = monotonicNanoseconds()
        guard now - min(now, loop.lastServedNanoseconds) >= .milliseconds(options.limits.loopBudgetMilliseconds) else { return true }
        counters["long_work_pauses", default: 0] += 1
        monitor.health.loopTurned()
        if now - min(now, lastHeartbeats) >= .milliseconds(options.heartbeatMilliseconds) { sendHeartbeats() }
        readRequests(whileBusy: true)
        behavior.readWhileBusy()
        loop.served()
        return !loop.isStopping
    }

    /// A request read while long work pauses. Its client's lease is renewed
    /// (the client is waiting for the node, not gone); a `hello` or `renew`
    /// from a connection with nothing waiting, and not the one whose request
    /// runs, is answered at once: both need only the node's own state.
    /// Other requests, and frames too large to read here, wait their turn.
    /// - Returns: whether it was answered.
    func answeredWhileBusy(_ request: RequestQueue.Request) -> Bool {
        let frames = request.frames
        let envelope = envelope(of: frames)
        guard frames.count - envelope.count == 1, frames.count <= options.limits.maxFramesPerMessage,
            let frame = frames.last, frame.count <= Self.busyIDScanBytes, let parsed = try? ControlRequest(frame: frame, limits: options.limits)
        else { return false }
        let peer = frames[0]
        registry.renew(clientIdentity(parsed, peer: peer, key: request.userID), until: leaseDeadline)
        guard parsed.op == "hello" || parsed.op == "renew", servingPeer != peer, !requestQueue.hasWaiting(from: peer) else { return false }
        if let reply = answer(frame, peer: peer, key: request.userID, envelope: envelope) { send(reply, to: envelope) }
        return true
    }
}
