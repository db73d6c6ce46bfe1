/// Requests read from the node's ROUTER and not served yet: one queue per
/// connection (routing id), served round-robin, so that a client sending a
/// burst waits behind its own requests, not in front of everyone else's.
///
/// Each connection's queue is bounded in requests, and all the queues
/// together in bytes; a request over a bound is handed back to be refused
/// (`busy`). A connection with nothing queued takes no memory: a queue goes
/// when it empties.
struct RequestQueue {
    /// One message as the ROUTER gave it.
    struct Request {
        /// The routing id first, then the request's frames.
        let frames: [[UInt8]]
        /// The sender's CURVE key, when the ZAP handler gave one.
        let userID: String?

        var byteCount: Int { frames.reduce(0) { $0 + $1.count } }
    }

    /// Which bound a refused request met.
    enum Refusal: Equatable {
        /// Its connection has `limit` requests waiting.
        case requests
        /// The queues hold `byteLimit` bytes, and its connection has a request waiting.
        case bytes
    }

    /// Most requests one connection may have waiting.
    let limit: Int
    /// Most bytes of requests waiting, all connections together; a
    /// connection with nothing waiting may always queue one, so that one
    /// client's burst of large requests cannot shut the others out.
    let byteLimit: Int
    /// Bytes of the requests waiting.
    private(set) var byteCount = 0
    private var queues: [[UInt8]: [Request]] = [:]
    /// The connections with requests waiting, the next to be served first.
    private var turns: [[UInt8]] = []
    /// Connections whose requests wait for an earlier one's reply (a change
    /// applied a step at a time), with how many such replies each waits for.
    private var held: [[UInt8]: Int] = [:]

    init(limit: Int, byteLimit: Int = .max) {
        self.limit = limit
        self.byteLimit = byteLimit
    }

    var isEmpty: Bool { turns.isEmpty }

    /// Whether a request may be served now: one of a connection not held.
    var hasServable: Bool { held.isEmpty ? !turns.isEmpty : turns.contains { held[$0] == nil } }

    /// Holds a connection's requests back until `release`: they keep their
    /// order, and the other connections go on.
    mutating func hold(_ peer: [UInt8]) { held[peer, default: 0] += 1 }

    mutating func release(_ peer: [UInt8]) {
        guard let count = held[peer] else { return }
        held[peer] = count > 1 ? count - 1 : nil
    }

    /// Whether a connection has requests waiting.
    func hasWaiting(from peer: [UInt8]) -> Bool { queues[peer] != nil }

    /// How many connections have requests waiting.
    var connectionCount: Int { turns.count }

    /// Queues a request behind its connection's others.
    /// - Returns: nil when queued, else the bound it met (nothing queued).
    mutating func add(_ request: Request) -> Refusal? {
        let peer = request.frames[0]
        let waiting = queues[peer]?.count ?? 0
        guard waiting < limit else { return .requests }
        let bytes = request.byteCount
        guard waiting == 0 || byteCount + bytes <= byteLimit else { return .bytes }
        if waiting == 0 { turns.append(peer) }
        queues[peer, default: []].append(request)
        byteCount += bytes
        return nil
    }

    /// Takes the first request of each connection that `take` accepts,
    /// looking at the first `limit` connections in line, but `excluded` and
    /// the held ones. Each connection keeps its order, and its place in line
    /// while it has requests waiting.
    mutating func takeFirst(except excluded: [UInt8]?, lookingAt limit: Int, where take: (Request) -> Bool) -> [Request] {
        var taken: [Request] = []
        for peer in turns.prefix(limit) where peer != excluded && held[peer] == nil {
            guard let first = queues[peer]?.first, take(first) else { continue }
            queues[peer]!.removeFirst()
            if queues[peer]!.isEmpty { queues[peer] = nil }
            byteCount -= first.byteCount
            taken.append(first)
        }
        if !taken.isEmpty { turns.removeAll { queues[$0] == nil } }
        return taken
    }

    /// The first request of the connection whose turn it is (held ones
    /// skipped); that connection's next turn comes after every other connection's.
    mutating func next() -> Request? {
        guard let turn = held.isEmpty ? turns.indices.first : turns.firstIndex(where: { held[$0] == nil }) else { return nil }
        let peer = turns.remove(at: turn)
        var queue = queues.removeValue(forKey: peer)!
        let request = queue.removeFirst()
        byteCount -= request.byteCount
        if !queue.isEmpty {
            queues[peer] = queue
            turns.append(peer)
        }
        return request
    }
}
