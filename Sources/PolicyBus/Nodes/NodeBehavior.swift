import PolicyEngine
import ZeroMQ

/// What a kind of node (data source, engine) adds to the shared node.
///
/// Everything is called on the node's thread.
protocol NodeBehavior: AnyObject {
    /// `"datasource"` or `"engine"`.
    var kind: String { get }
    /// Checks that `table` may be subscribed to (`unknown-policy`, `unknown-table`).
    func validate(_ table: TableID, node: Node) throws(BusError)
    /// `table` got its first subscriber: start publishing it.
    func open(_ table: TableID, node: Node)
    /// `table` lost its last subscriber.
    func close(_ table: TableID, node: Node)
    /// Handles a kind-specific op; nil means the op is unknown.
    func handle(_ request: ControlRequest, node: Node) throws(BusError) -> [String: JSON]?
    /// The rows of a table the publisher does not keep (`openExternal`).
    func externalRows(_ table: TableID, node: Node) -> [Row]
    /// How many rows `externalRows` would return, without building (or sorting) them.
    func externalRowCount(_ table: TableID, node: Node) -> Int
    /// Kind-specific parts of `status`.
    func status(node: Node) -> [String: JSON]
    /// Sockets the node polls for the behavior (fixed at start).
    var sockets: [Socket] { get }
    /// One of `sockets` is readable.
    func readable(socket index: Int, node: Node)
    /// Called at least every `tickMilliseconds`.
    func tick(now: UInt64, node: Node)
    /// Called once before the loop stops.
    func shutdown(node: Node)
}
