import PolicyEngine

/// Limits a node enforces on requests. Every limit has a safe default.
public struct BusLimits: Hashable, Sendable {
    /// Largest frame a node accepts (ZMQ_MAXMSGSIZE on its ROUTER), in bytes.
    public var maxMessageSize: Int = 16 << 20
    /// Most frames in one request as the ROUTER sees it: the identity, an
    /// optional empty delimiter and the JSON body.
    public var maxFramesPerMessage: Int = 3
    /// Most rows in one `facts` request or `publish` replace.
    public var maxRowsPerRequest: Int = 100_000
    /// Longest qualified table name, in bytes.
    public var maxTableNameLength: Int = 256
    /// Longest `client` id, in bytes: a node keeps the id of every client
    /// holding subscriptions and lists it in `status`.
    public var maxClientIDLength: Int = 128
    /// Most bytes of policy text in one `rules` request.
    public var maxRuleTextLength: Int = 64 << 10
    /// Most bytes of query text in one `query` or `explain` request.
    public var maxQueryLength: Int = 4 << 10
    /// Most columns in one row of a `facts` request, or in a query's pattern.
    public var maxArity: Int = 64
    /// Largest reply, in bytes, to any op but `subscribe` and
    /// `snapshot-chunk` (whose rows the snapshot chunk size bounds): a
    /// bigger one is refused with `reply-too-large`, and the client asks for
    /// a page (`offset`, `limit`). A reply is built whole on the loop: 1 MiB
    /// keeps that within the loop budget, where a 16 MiB one held the loop
    /// most of a second.
    public var maxReplyBytes: Int = 1 << 20
    /// What one `rules` or `facts` request may make an engine derive before
    /// it is refused (`too-expensive`) and rolled back whole.
    public var transactionBudget = TransactionBudget()
    /// How long the node's loop serves queued requests before it turns to
    /// its heartbeats, timers and newly arrived requests, in milliseconds.
    /// One request is never cut short: this bounds how many are served in a row.
    public var loopBudgetMilliseconds: Int = 50
    /// Most milliseconds one `explain` or `simulate` may take (read every few
    /// rows): over it, `too-expensive`. A question holds the loop less long
    /// than a change may (`transactionBudget`).
    public var maxRequestMilliseconds: Int = 1000
    /// Most requests one connection may have waiting at the node; the
    /// connections' queues are served round-robin. Over it: `busy`.
    public var maxQueuedRequests: Int = 1000
    /// Most requests libzmq holds for one connection that the node has not
    /// read yet (ZMQ_RCVHWM on the ROUTER): then libzmq stops reading that
    /// connection's TCP socket, and a client sending faster than it is
    /// served is held back by TCP instead of by the node's memory. The node
    /// reads eagerly between its turns, so this costs a pipelining client
    /// nothing but a wait. Memory one connection can hold before the node
    /// reads it: about (this + 1) × `maxMessageSize` (the `+ 1`: the
    /// message libzmq is receiving), plus the kernel's socket buffers.
    public var maxUnreadRequests: Int32 = 4
    /// Most bytes of requests waiting at the node, all connections together
    /// (a connection with none waiting may always queue one). Over it: `busy`.
    /// With the frame size it bounds the memory waiting requests hold.
    public var maxQueuedBytes: Int = 64 << 20
    /// Most tables one client may subscribe to at a node.
    public var maxSubscriptionsPerClient: Int = 1024
    /// Most clients holding subscriptions at once: with the per-client limit
    /// it bounds the subscriptions (and tables opened for them) one node keeps.
    public var maxClients: Int = 10_000
    /// Most tables with subscribers at once, all clients together: each is
    /// published and heartbeated, and a data source or an engine opens one
    /// for any name of its service or policies, so without it clients could
    /// make a node keep `maxClients` × `maxSubscriptionsPerClient` tables.
    public var maxSubscribedTables: Int = 10_000

    public init() {}
}
