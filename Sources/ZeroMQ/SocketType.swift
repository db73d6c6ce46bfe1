internal import CZeroMQ

/// The kind of a ZeroMQ socket, which fixes its messaging pattern.
public struct SocketType: Sendable, Hashable {
    let rawValue: Int32
    /// A readable name, e.g. `"PUB"`.
    public let name: String

    private init(_ rawValue: Int32, _ name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    /// Publisher: sends to every matching subscriber, drops at the high-water mark.
    public static let pub = SocketType(ZMQ_PUB, "PUB")
    /// Subscriber: receives the messages whose first frame starts with a subscribed prefix.
    public static let sub = SocketType(ZMQ_SUB, "SUB")
    /// A publisher that also receives subscription messages.
    public static let xpub = SocketType(ZMQ_XPUB, "XPUB")
    /// A subscriber that sends its subscriptions as messages.
    public static let xsub = SocketType(ZMQ_XSUB, "XSUB")
    /// Routes by the routing id that prefixes each message.
    public static let router = SocketType(ZMQ_ROUTER, "ROUTER")
    /// Asynchronous request/reply peer of a ROUTER.
    public static let dealer = SocketType(ZMQ_DEALER, "DEALER")
    /// Strict request/reply client.
    public static let req = SocketType(ZMQ_REQ, "REQ")
    /// Strict request/reply server.
    public static let rep = SocketType(ZMQ_REP, "REP")
    /// One exclusive peer.
    public static let pair = SocketType(ZMQ_PAIR, "PAIR")
    /// Pipeline producer.
    public static let push = SocketType(ZMQ_PUSH, "PUSH")
    /// Pipeline consumer.
    public static let pull = SocketType(ZMQ_PULL, "PULL")
}

extension SocketType: CustomStringConvertible {
    public var description: String { name }
}
