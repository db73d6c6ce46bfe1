/// Requests read from the node's ROUTER and not served yet: one queue per
/// connection (routing id), served round-robin, so that a client sending a
/// burst waits behind its own requests, not in front of everyone else's.
///
/// Each connection's queue is bounded; a request over the bound is handed
/// back to be refused (`busy`). A connection with nothing queued takes no
/// memory: a queue goes when it empties.
struct RequestQueue {
    /// One message as the ROUTER gave it.
    struct Request {
        /// The routing id first, then the request's frames.
        let frames: [[UInt8]]
        /// The sender's CURVE key, when the ZAP handler gave one.
        let userID: String?
    }

    /// Most requests one connection may have waiting.
    let limit: Int
    private var queues: [[UInt8]: [Request]] = [:]
    /// The connections with requests waiting, the next to be served first.
    private var turns: [[UInt8]] = []

    init(limit: Int) {
        self.limit = limit
    }

    var isEmpty: Bool { turns.isEmpty }

    /// How many connections have requests waiting.
    var connectionCount: Int { turns.count }

    /// Queues a request behind its connection's others.
    /// - Returns: false when the connection has `limit` waiting already (nothing queued).
    mutating func add(_ request: Request) -> Bool {
        let peer = request.frames[0]
        let waiting = queues[peer]?.count ?? 0
        guard waiting < limit else { return false }
        if waiting == 0 { turns.append(peer) }
        queues[peer, default: []].append(request)
        return true
    }

    /// The first request of the connection whose turn it is; that
    /// connection's next turn comes after every other connection's.
    mutating func next() -> Request? {
        guard !turns.isEmpty else { return nil }
        let peer = turns.removeFirst()
        var queue = queues.removeValue(forKey: peer)!
        let request = queue.removeFirst()
        if !queue.isEmpty {
            queues[peer] = queue
            turns.append(peer)
        }
        return request
    }
}
