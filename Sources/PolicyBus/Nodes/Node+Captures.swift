import PolicyEngine
import ZeroMQ

/// A `subscribe` whose snapshots are still being sorted (`SnapshotCaptures`):
/// it is subscribed already, and its reply goes once they are whole.
struct WaitingReply {
    let envelope: [[UInt8]]
    let id: JSON?
    let command: ControlCommand
    let client: ClientIdentity
    let body: ControlReply.Subscribed
    /// The capture each of its large tables waits for.
    let capturing: [TableID: String]
}

extension Node {
    /// Does one step of the snapshot being sorted whose turn it is (the
    /// loop runs these between requests, within its budget, as
    /// `serveQueued` says), and answers the subscribes it finished.
    /// - Returns: whether there was a step to do.
    func stepCaptures() -> Bool {
        guard captures.isBuilding else { return false }
        if captures.step() != nil { answerWaitingReplies() }
        return true
    }

    /// Sends the replies whose captures are all whole.
    func answerWaitingReplies() {
        var still: [WaitingReply] = []
        for waiting in waitingReplies {
            guard waiting.capturing.values.allSatisfy(captures.isDone) else {
                still.append(waiting)
                continue
            }
            let body = completed(waiting.body, capturing: waiting.capturing)
            send(encoded(body, id: waiting.id, command: waiting.command, client: waiting.client), to: waiting.envelope)
        }
        waitingReplies = still
    }

    /// A subscribe reply with the snapshots of its captures filled in (any
    /// not whole yet finished at once): the rows when they fit in one chunk,
    /// else the capture to read in chunks.
    func completed(_ body: ControlReply.Subscribed, capturing: [TableID: String]) -> ControlReply.Subscribed {
        var body = body
        let now = monotonicNanoseconds()
        for (table, id) in capturing {
            captures.finish(id)
            body.snapshots[table]?.contents = captures.contents(of: id, now: now)
        }
        return body
    }
}
