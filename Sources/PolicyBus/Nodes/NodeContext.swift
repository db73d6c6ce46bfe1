import CoreMetrics
import Logging
import Monitoring
import PolicyEngine
import ZeroMQ

/// What a behaviour (engine, data source) sees of its node, as a handler
/// sees its channel through swift-nio's `ChannelHandlerContext`: the node's
/// name, limits and logger, its published tables, and one way to publish a
/// change. It cannot reach the node's control socket or its subscriptions,
/// and it holds no reference to the node: nothing points back. The node's
/// loop is there for the behaviour's own sockets and timers (an engine's
/// peers).
///
/// Used on the node's thread only.
final class NodeContext {
    let options: NodeOptions
    /// The ZeroMQ context, for the sockets a behaviour opens (an engine's peers).
    let zmq: Context
    /// The node's loop, which runs everything on the node's thread.
    let loop: PollLoop
    /// The node's published tables: seqs, the rows the publisher keeps, the epoch.
    private(set) var publisher: TablePublisher
    private let pub: Socket
    /// Data frames sent. Counted here, not in a string-keyed dictionary:
    /// this is the publish hot path.
    private(set) var deltasSent = 0
    /// The node's metrics and health, written on the node's thread.
    let monitor: NodeMonitor
    /// Each open table's series, by its publisher slot: made when the table
    /// opens and dropped when it closes, so the publish path records with
    /// an array read, and the tables clients open and leave leave no series.
    private var tableSeries: [NodeMonitor.TableSeries?] = []

    var name: String { options.name }
    var limits: BusLimits { options.limits }
    var logger: Logger { options.logger }

    /// Binds the PUB socket.
    init(options: NodeOptions, zmq: Context, loop: PollLoop) throws(ZMQError) {
        self.options = options
        self.zmq = zmq
        self.loop = loop
        pub = try Socket(zmq, .pub)
        try pub.set(.sendHighWaterMark, options.sendHighWaterMark)
        try options.curve?.apply(to: pub)
        publisher = TablePublisher(node: options.name, history: options.history)
        monitor = NodeMonitor(health: options.health, factory: options.metricsFactory ?? MetricsSystem.factory)
        try bindData()
    }

    /// Binds the PUB: `--data`, else the port recorded in the data directory
    /// (another one, with a warning, if that is taken), else any free port.
    private func bindData() throws(ZMQError) {
        if let data = options.data { return try pub.bind(data) }
        let wildcard = NodeOptions.defaultData(for: options.control)
        guard let directory = options.dataEndpointDirectory else { return try pub.bind(wildcard) }
        let file = DataEndpointFile(directory: directory)
        if let recorded = file.recorded(matching: wildcard) {
            do {
                return try pub.bind(recorded)
            } catch {
                logger.warning("cannot bind the data endpoint of the last run; binding another port: subscribers follow it from the next reply", metadata: [
                    "endpoint": "\(recorded)", "error": "\(error)",
                ])
            }
        }
        try pub.bind(wildcard)
        guard wildcard.hasSuffix(":*") else { return }
        do {
            try file.record(try pub.lastEndpoint)
        } catch {
            logger.warning("cannot record the data endpoint; the next start binds another port", metadata: ["path": "\(file.path)", "error": "\(error)"])
        }
    }

    /// The bound data endpoint (wildcard port resolved).
    func dataEndpoint() throws(ZMQError) -> String { try pub.lastEndpoint }

    // MARK: - Publishing

    /// Publishes an exact change of an open table (rows added that were
    /// absent, rows removed that were present): the one way a behaviour
    /// tells subscribers of a change. Nothing is sent for an empty delta or
    /// a table that is not open.
    /// - Parameter stagedTail: for a delta whose rows the publisher has
    ///   already (`TablePublisher.stage`), the frame's rows written beforehand.
    func publish(_ delta: TableDelta, stagedTail: [UInt8]? = nil) {
        let frame = if let stagedTail {
            publisher.publishStaged(delta.table, added: delta.added, removed: delta.removed, tail: stagedTail)
        } else {
            publisher.publishExact(delta.table, added: delta.added, removed: delta.removed)
        }
        guard let frame else { return }
        do {
            try pub.sendFrame(frame, more: false)
            deltasSent += 1
            if let slot = publisher.lastPublishedSlot, slot < tableSeries.count {
                tableSeries[slot]?.published(rowCount: delta.added.count + delta.removed.count)
            }
        } catch {
            logger.warning("publish failed", metadata: ["error": "\(error)"])
        }
    }

    /// Puts a slice of a large exact delta into a table's rows, to be
    /// published whole later (`publish(_:stagedTail:)`, `StagedDelta`).
    func stage(_ table: TableID, adding: some Sequence<Row>, removing: some Sequence<Row>, total: Int) {
        publisher.stage(table, adding: adding, removing: removing, total: total)
    }

    /// Starts publishing a table whose rows the publisher keeps.
    func open(_ table: TableID, columns: [String]?) {
        publisher.open(table, columns: columns)
        makeSeries(of: table)
    }

    /// Starts publishing a table whose rows the behaviour keeps (an engine's).
    func openExternal(_ table: TableID, columns: [String]?) {
        publisher.openExternal(table, columns: columns)
        makeSeries(of: table)
    }

    /// Stops publishing a table (its seq is remembered); its series go.
    func close(_ table: TableID) {
        publisher.close(table)
        guard let slot = publisher.slot(of: table), slot < tableSeries.count, tableSeries[slot] != nil else { return }
        tableSeries[slot] = nil
        monitor.forget(table: table.description)
    }

    private func makeSeries(of table: TableID) {
        guard let slot = publisher.slot(of: table) else { return }
        if tableSeries.count <= slot { tableSeries += Array(repeating: nil, count: slot + 1 - tableSeries.count) }
        if tableSeries[slot] == nil { tableSeries[slot] = monitor.series(ofTable: table.description) }
    }

    // MARK: - For the node

    /// Sends every open table's heartbeat. - Returns: how many there were.
    func sendHeartbeats() -> Int {
        let frames = publisher.heartbeats()
        for frame in frames { _ = try? pub.sendFrame(frame, more: false) }
        return frames.count
    }

    /// Makes the PUB take in the subscriptions that reached this process.
    ///
    /// The PUB learns of new SUB connections and their subscriptions only
    /// when it handles its pending commands, and a send does that at most
    /// once a millisecond. Reading ZMQ_EVENTS handles them all now, so a
    /// subscription that arrived before a subscribe request gets the deltas
    /// after its snapshot (no late-joiner resync).
    func takeInSubscriptions() {
        _ = try? pub.events
    }

    func close() {
        pub.close()
    }
}
