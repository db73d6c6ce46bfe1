import PolicyEngine

/// The one delta-publishing component that data sources and engines share.
///
/// It keeps each published table's contents and sequence number, turns
/// changes (and full-table replacements) into delta messages, answers
/// snapshots, and makes heartbeats. It is pure logic: the node hands the
/// returned frames to its PUB socket.
public struct TablePublisher: Sendable {
    /// The publishing node's name (`pub` in every message).
    public let node: String
    /// Changes whenever the publisher restarts: 16 random hex digits.
    public let epoch: String

    struct Table: Sendable {
        var rows: Set<Row> = []
        var seq: UInt64 = 0
        var columns: [String]?
        /// Whether deltas are published; an engine's table stops being live
        /// when its trigger goes. Its seq is kept so that it never goes back
        /// within an epoch.
        var isLive = true
        let deltaPrefix: [UInt8]
    }

    var tables: [TableID: Table] = [:]

    /// - Parameters:
    ///   - node: the node's name.
    ///   - epoch: the epoch; a fresh random one by default.
    public init(node: String, epoch: String = TablePublisher.newEpoch()) {
        self.node = node
        self.epoch = epoch
    }

    /// A random 64-bit epoch as 16 lowercase hex digits.
    public static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    // MARK: - Tables

    /// Starts publishing `table` with `rows` (or refreshes it after a pause).
    ///
    /// A table that was published before keeps counting: its seq grows by one
    /// (its contents may have changed meanwhile), so that a subscriber holding
    /// the old contents sees a heartbeat ahead of it and resyncs.
    public mutating func open(_ table: TableID, rows: some Sequence<Row> = [], columns: [String]? = nil) {
        let newRows = Set(rows)
        if var existing = tables[table] {
            if !existing.isLive { existing.seq += 1 }
            existing.rows = newRows
            existing.isLive = true
            if let columns { existing.columns = columns }
            tables[table] = existing
        } else {
            tables[table] = Table(
                rows: newRows, columns: columns,
                deltaPrefix: DataMessage.deltaPrefix(table: table, publisher: node, epoch: epoch))
        }
    }

    /// Stops publishing `table`: no more deltas or heartbeats, contents dropped,
    /// seq remembered.
    public mutating func close(_ table: TableID) {
        guard tables[table] != nil else { return }
        tables[table]!.isLive = false
        tables[table]!.rows = []
    }

    /// Whether `table` is published.
    public func isOpen(_ table: TableID) -> Bool { tables[table]?.isLive ?? false }

    /// The published tables, sorted.
    public var openTables: [TableID] { tables.filter(\.value.isLive).keys.sorted() }

    /// Sets a table's column names.
    public mutating func setColumns(_ columns: [String]?, for table: TableID) {
        tables[table]?.columns = columns
    }

    // MARK: - Changes

    /// Applies a change to `table` and returns its delta frame, or nil when
    /// the table is not published or nothing actually changed.
    ///
    /// Only the effective change is published: added rows already present and
    /// removed rows absent are dropped. A row both added and removed ends
    /// present (added wins); the delta lists it under `added` only.
    public mutating func publish(_ table: TableID, added: some Sequence<Row>, removed: some Sequence<Row>) -> [UInt8]? {
        guard var state = tables[table], state.isLive else { return nil }
        tables[table] = nil  // keep the set uniquely referenced while mutating it
        var addedSet: Set<Row> = []
        for row in added { addedSet.insert(row) }
        var effectiveRemoved: [Row] = []
        for row in removed where !addedSet.contains(row) {
            if state.rows.remove(row) != nil { effectiveRemoved.append(row) }
        }
        var effectiveAdded: [Row] = []
        for row in addedSet where state.rows.insert(row).inserted {
            effectiveAdded.append(row)
        }
        guard !effectiveAdded.isEmpty || !effectiveRemoved.isEmpty else {
            tables[table] = state
            return nil
        }
        state.seq += 1
        var writer = JSONWriter(capacity: state.deltaPrefix.count + 64)
        writer.bytes.append(contentsOf: state.deltaPrefix)
        DataMessage.finishDelta(&writer, seq: state.seq, added: effectiveAdded, removed: effectiveRemoved)
        tables[table] = state
        return writer.bytes
    }

    /// Publishes an already exact delta (an engine trigger's): no filtering
    /// against the contents beyond keeping them up to date. The fast path.
    public mutating func publishExact(_ table: TableID, added: [Row], removed: [Row]) -> [UInt8]? {
        guard var state = tables[table], state.isLive, !added.isEmpty || !removed.isEmpty else { return nil }
        tables[table] = nil
        for row in removed { state.rows.remove(row) }
        for row in added { state.rows.insert(row) }
        state.seq += 1
        var writer = JSONWriter(capacity: state.deltaPrefix.count + 64)
        writer.bytes.append(contentsOf: state.deltaPrefix)
        DataMessage.finishDelta(&writer, seq: state.seq, added: added, removed: removed)
        tables[table] = state
        return writer.bytes
    }

    /// Turns a full-table update into a delta (Congress's prepush processor):
    /// new minus old is added, old minus new is removed.
    public mutating func replace(_ table: TableID, with rows: some Sequence<Row>) -> [UInt8]? {
        guard let state = tables[table], state.isLive else { return nil }
        let new = Set(rows)
        return publish(table, added: new.subtracting(state.rows), removed: state.rows.subtracting(new))
    }

    /// The delta `replace` would publish, without publishing it.
    public func difference(_ table: TableID, replacingWith rows: some Sequence<Row>) -> (added: [Row], removed: [Row]) {
        let old = tables[table]?.rows ?? []
        let new = Set(rows)
        return (Array(new.subtracting(old)), Array(old.subtracting(new)))
    }

    // MARK: - Reading

    /// A published table's snapshot: its seq, rows and columns.
    public func snapshot(_ table: TableID) -> (seq: UInt64, rows: Set<Row>, columns: [String]?)? {
        guard let state = tables[table], state.isLive else { return nil }
        return (state.seq, state.rows, state.columns)
    }

    /// The table's seq, live or not.
    public func seq(_ table: TableID) -> UInt64? { tables[table]?.seq }

    /// One heartbeat frame per published table.
    public func heartbeats() -> [[UInt8]] {
        tables.filter(\.value.isLive).keys.sorted().map { table in
            DataMessage.heartbeat(.init(table: table, publisher: node, epoch: epoch, seq: tables[table]!.seq)).encoded()
        }
    }
}
