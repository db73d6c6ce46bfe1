import PolicyEngine
import ZeroMQ

/// What a kind of node (data source, engine) adds to the shared node. A
/// behaviour is made with the node's `NodeContext` and sees nothing else of
/// the node.
///
/// Everything is called on the node's thread.
protocol NodeBehavior: AnyObject {
    /// `"datasource"` or `"engine"`.
    var kind: String { get }
    /// Checks that `table` may be subscribed to (`unknown-policy`, `unknown-table`).
    func validate(_ table: TableID) throws(BusError)
    /// `table` got its first subscriber: start publishing it.
    func open(_ table: TableID)
    /// `tables` lost their last subscribers (one client's unsubscribe, or
    /// every table whose leases ended in one check).
    func close(_ tables: [TableID])
    /// The ops that differ by kind: `query`, `rules`, `facts`.
    func handle(_ command: ControlCommand) throws(BusError) -> any ControlReplyBody
    /// The tables `tables` lists, sorted.
    var listedTables: [TableID] { get }
    /// A table's column names, if known.
    func columns(of table: TableID) -> [String]?
    /// A table's rows, sorted (`query`).
    func rows(of table: TableID) -> [Row]
    /// A table's rows as they are now, to be sorted later a step at a
    /// time: a subscription's snapshot (`SnapshotCaptures`).
    func rowSource(of table: TableID) -> RowSource
    /// The sort a `query` needs first, when its table is larger than a
    /// step of sorting and not sorted at its current version: the table,
    /// that version and its rows (`Node+Captures.swift`); nil to answer now.
    func sortFirst(for command: ControlCommand) -> QuerySort.Needed?
    /// Answers a `query` from its table's rows sorted at `version`, and
    /// keeps them for the next queries while the table stays at it.
    func answer(_ command: ControlCommand, sorted rows: [Row], version: AnyHashable) throws(BusError) -> any ControlReplyBody
    /// How many rows `rows(of:)` would return, without building them.
    func rowCount(of table: TableID) -> Int
    /// The peer tables `table` reads that have had no snapshot yet since the
    /// node started: a `subscribe` to `table` waits for them.
    func unsyncedInputs(of table: TableID) -> [TableID]
    /// The peer tables `table` reads that are lost or resyncing now.
    func staleInputs(of table: TableID) -> [TableID]
    /// How long a `subscribe` waits for unsynced inputs before `not-ready`.
    var syncWaitMilliseconds: Int { get }
    /// Kind-specific parts of `status`, if any; long lists paged by `page`.
    func status(_ page: ControlCommand.Page) -> (any ControlReplyBody)?
    /// Applies fact changes from the node's owner (`Node.applyFacts`).
    func apply(_ changes: [FactChange]) throws(BusError)
    /// Takes a change to apply a step at a time (`stepChange`), when the
    /// behaviour does so: `reply` is called once, with the reply or the
    /// refusal, after its last step. Later requests of its connection wait
    /// for that reply (`Node+QueuedChanges.swift`).
    /// - Returns: false to `handle` it at once.
    func queueChange(_ command: ControlCommand, reply: @escaping (Result<any ControlReplyBody, BusError>) -> Void) -> Bool
    /// Whether queued changes have steps left.
    var hasChangeSteps: Bool { get }
    /// Does one step of the oldest queued change.
    func stepChange()
    /// Whether the change's steps must run with no request served between
    /// them (its published rows are half changed).
    var changeHoldsRequests: Bool { get }
    /// The engine, for an engine node (`Node.engine`).
    var policyEngine: Engine? { get }
    /// Called every 100 ms (or every heartbeat, if shorter). A behaviour's
    /// own sockets are on the node's loop (`NodeContext.loop`).
    func tick(now: UInt64)
    /// Called once before the loop stops.
    func shutdown()
    /// Reads what the behaviour's own sockets hold, without acting on it,
    /// while long engine work pauses (`Node+LongWork.swift`).
    func readWhileBusy()
}

extension NodeBehavior {
    /// A data source's tables are its own: always complete.
    func unsyncedInputs(of table: TableID) -> [TableID] { [] }
    func staleInputs(of table: TableID) -> [TableID] { [] }
    var syncWaitMilliseconds: Int { 0 }
    func readWhileBusy() {}
    /// An engine's changes are transactions, which pause instead (`Node+LongWork.swift`).
    func queueChange(_ command: ControlCommand, reply: @escaping (Result<any ControlReplyBody, BusError>) -> Void) -> Bool { false }
    var hasChangeSteps: Bool { false }
    func stepChange() {}
    var changeHoldsRequests: Bool { false }
}
