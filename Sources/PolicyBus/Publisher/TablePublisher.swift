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
    /// How many recent deltas each table keeps; the bytes bound is also
    /// the node's, over all its tables together.
    public let historyBounds: DeltaHistory.Bounds
    /// The bytes of every table's history together.
    public private(set) var historyBytes = 0

    struct Table: Sendable {
        var rows: Set<Row> = []
        var seq: UInt64 = 0
        var columns: [String]?
        /// Whether deltas are published; an engine's table stops being live
        /// when its trigger goes. Its seq is kept so that it never goes back
        /// within an epoch.
        var isLive = true
        /// False when the owner keeps the contents (an engine's table: the
        /// engine has every row already), so publishing skips the copy.
        var tracksContents = true
        let deltaPrefix: [UInt8]
        /// Recent deltas, for `subscribe` with `since`.
        var history: DeltaHistory
    }

    /// Tables live in `slots`, found through `index`: the publish path looks
    /// a table up once and mutates its slot in place.
    var slots: [Table] = []
    var index: [TableID: Int] = [:]
    /// Reused for every delta frame; a frame the caller still holds is copied
    /// on write, so reuse is always safe.
    var scratch: [UInt8] = []
    var lastLookup: (table: TableID, slot: Int)?

    /// - Parameters:
    ///   - node: the node's name.
    ///   - epoch: the epoch; a fresh random one by default.
    public init(node: String, epoch: String = TablePublisher.newEpoch(), history: DeltaHistory.Bounds = .init()) {
        self.node = node
        self.epoch = epoch
        self.historyBounds = history
        scratch.reserveCapacity(1024)
    }

    /// A random 64-bit epoch as 16 lowercase hex digits.
    public static func newEpoch() -> String { randomHexID() }

    // MARK: - Tables

    /// Starts publishing `table` with `rows` (or refreshes it after a pause).
    ///
    /// A table that was published before keeps counting: its seq grows by one
    /// (its contents may have changed meanwhile), so that a subscriber holding
    /// the old contents sees a heartbeat ahead of it and resyncs.
    public mutating func open(_ table: TableID, rows: some Sequence<Row> = [], columns: [String]? = nil) {
        if let slot = index[table] {
            if !slots[slot].isLive {
                slots[slot].seq += 1
                forgetHistory(slot)
            }
            slots[slot].rows = Set(rows)
            slots[slot].isLive = true
            if let columns { slots[slot].columns = columns }
        } else {
            index[table] = slots.count
            slots.append(Table(
                rows: Set(rows), columns: columns,
                deltaPrefix: DataMessage.deltaPrefix(table: table, publisher: node, epoch: epoch), history: DeltaHistory(bounds: historyBounds)))
        }
    }

    /// Starts publishing `table` whose contents its owner keeps (an engine's
    /// table): deltas and seq only; `snapshot` returns no rows for it, and the
    /// owner supplies them. Otherwise like `open`.
    public mutating func openExternal(_ table: TableID, columns: [String]? = nil) {
        open(table, columns: columns)
        slots[index[table]!].tracksContents = false
    }

    /// Whether the publisher keeps `table`'s rows (false for `openExternal` tables).
    public func tracksContents(_ table: TableID) -> Bool {
        index[table].map { slots[$0].tracksContents } ?? false
    }

    /// Stops publishing `table`: no more deltas or heartbeats, contents dropped,
    /// seq remembered.
    public mutating func close(_ table: TableID) {
        guard let slot = index[table] else { return }
        slots[slot].isLive = false
        slots[slot].rows = []
        forgetHistory(slot)
    }

    private mutating func forgetHistory(_ slot: Int) {
        historyBytes -= slots[slot].history.bytes
        slots[slot].history.removeAll()
    }

    /// Keeps every table's history together within the bytes bound, after
    /// `slot`'s grew: the table whose history is the larger part sheds its
    /// oldest deltas (the growing one, in the steady state, without a scan).
    mutating func shedHistory(after slot: Int) {
        while historyBytes > historyBounds.bytes {
            var largest = slot
            if slots[slot].history.bytes * 2 < historyBytes {
                for other in slots.indices where slots[other].history.bytes > slots[largest].history.bytes { largest = other }
            }
            guard slots[largest].history.count > 0 else { return }
            let before = slots[largest].history.bytes
            slots[largest].history.dropOldest()
            historyBytes -= before - slots[largest].history.bytes
        }
    }

    func live(_ table: TableID) -> Int? {
        // A trigger publishes one table many times in a row: comparing two
        // short names is cheaper than hashing them.
        if let last = lastLookup, last.table == table, slots[last.slot].isLive { return last.slot }
        guard let slot = index[table], slots[slot].isLive else { return nil }
        return slot
    }

    /// Remembers the slot of the table published last.
    mutating func liveRemembering(_ table: TableID) -> Int? {
        guard let slot = live(table) else { return nil }
        lastLookup = (table, slot)
        return slot
    }

    /// Whether `table` is published.
    public func isOpen(_ table: TableID) -> Bool { live(table) != nil }

    /// Where `table` is kept: a small integer, the same for the table's
    /// life in this publisher, for state its owner keeps beside it.
    func slot(of table: TableID) -> Int? { index[table] }

    /// The slot of the table `publishExact` published last.
    var lastPublishedSlot: Int? { lastLookup?.slot }

    /// The published tables, sorted.
    public var openTables: [TableID] { index.filter { slots[$0.value].isLive }.keys.sorted() }

    /// Sets a table's column names.
    public mutating func setColumns(_ columns: [String]?, for table: TableID) {
        guard let slot = index[table] else { return }
        slots[slot].columns = columns
    }

    // MARK: - Changes

    /// Applies a change to `table` and returns its delta frame, or nil when
    /// the table is not published or nothing actually changed.
    ///
    /// Only the effective change is published: added rows already present and
    /// removed rows absent are dropped. A row both added and removed ends
    /// present (added wins); the delta lists it under `added` only.
    public mutating func publish(_ table: TableID, added: some Sequence<Row>, removed: some Sequence<Row>) -> [UInt8]? {
        guard let slot = liveRemembering(table) else { return nil }
        var addedSet: Set<Row> = []
        for row in added { addedSet.insert(row) }
        var effectiveRemoved: [Row] = []
        for row in removed where !addedSet.contains(row) {
            if slots[slot].rows.remove(row) != nil { effectiveRemoved.append(row) }
        }
        var effectiveAdded: [Row] = []
        for row in addedSet where slots[slot].rows.insert(row).inserted {
            effectiveAdded.append(row)
        }
        guard !effectiveAdded.isEmpty || !effectiveRemoved.isEmpty else { return nil }
        return frame(slot, added: effectiveAdded, removed: effectiveRemoved)
    }

    /// Publishes an already exact delta (an engine trigger's): no filtering
    /// against the contents beyond keeping them up to date. The fast path.
    public mutating func publishExact(_ table: TableID, added: [Row], removed: [Row]) -> [UInt8]? {
        guard !added.isEmpty || !removed.isEmpty, let slot = liveRemembering(table) else { return nil }
        if slots[slot].tracksContents {
            for row in removed { slots[slot].rows.remove(row) }
            // Room for a large delta at once: growing a step at a time rehashes every row at each step.
            if added.count > 1024 { slots[slot].rows.reserveCapacity(slots[slot].rows.count + added.count) }
            for row in added { slots[slot].rows.insert(row) }
        }
        return frame(slot, added: added, removed: removed)
    }

    /// Changes a table's rows without publishing them: a large exact delta
    /// (rows added that were absent, rows removed that were present) put in
    /// a slice at a time, then published whole by `publishStaged`. Until
    /// then the table's rows are neither one version nor the other: its
    /// owner must not serve them in between (a data source's
    /// `StagedDelta`). `total` is the delta's added rows, room made for at the first slice.
    public mutating func stage(_ table: TableID, adding: some Sequence<Row>, removing: some Sequence<Row>, total: Int) {
        guard let slot = live(table), slots[slot].tracksContents else { return }
        slots[slot].rows.reserveCapacity(slots[slot].rows.count + total)
        for row in removing { slots[slot].rows.remove(row) }
        for row in adding { slots[slot].rows.insert(row) }
    }

    /// Publishes a delta whose rows `stage` put in, with the frame's rows
    /// written beforehand (`tail`: `,"added":[...],"removed":[...]}`, as
    /// `DataMessage.finishDelta` writes them after the seq).
    public mutating func publishStaged(_ table: TableID, added: [Row], removed: [Row], tail: [UInt8]) -> [UInt8]? {
        guard !added.isEmpty || !removed.isEmpty, let slot = liveRemembering(table) else { return nil }
        return frame(slot, added: added, removed: removed, tail: tail)
    }

    /// Bumps the seq and encodes the delta frame (after the seq, `tail` when given).
    mutating func frame(_ slot: Int, added: [Row], removed: [Row], tail: [UInt8]? = nil) -> [UInt8] {
        slots[slot].seq += 1
        var writer = JSONWriter(reusing: &scratch)
        writer.bytes.append(contentsOf: slots[slot].deltaPrefix)
        if let tail {
            writer.uint(slots[slot].seq)
            writer.bytes.append(contentsOf: tail)
        } else {
            DataMessage.finishDelta(&writer, seq: slots[slot].seq, added: added, removed: removed)
        }
        scratch = writer.bytes
        let before = slots[slot].history.bytes
        slots[slot].history.append(.init(seq: slots[slot].seq, added: added, removed: removed), size: scratch.count)
        historyBytes += slots[slot].history.bytes - before
        if historyBytes > historyBounds.bytes { shedHistory(after: slot) }
        return scratch
    }

    /// Turns a full-table update into a delta (Congress's prepush processor):
    /// new minus old is added, old minus new is removed.
    public mutating func replace(_ table: TableID, with rows: some Sequence<Row>) -> [UInt8]? {
        guard let slot = live(table) else { return nil }
        let new = Set(rows)
        let old = slots[slot].rows
        return publish(table, added: new.subtracting(old), removed: old.subtracting(new))
    }

    /// The delta `replace` would publish, without publishing it.
    public func difference(_ table: TableID, replacingWith rows: some Sequence<Row>) -> (added: [Row], removed: [Row]) {
        let old = index[table].map { slots[$0].rows } ?? []
        let new = Set(rows)
        return (Array(new.subtracting(old)), Array(old.subtracting(new)))
    }

    /// Whether a published table holds `row`.
    public func contains(_ row: Row, in table: TableID) -> Bool {
        guard let slot = live(table) else { return false }
        return slots[slot].rows.contains(row)
    }

    // MARK: - Reading

    /// A published table's snapshot: its seq, rows and columns.
    public func snapshot(_ table: TableID) -> (seq: UInt64, rows: Set<Row>, columns: [String]?)? {
        guard let slot = live(table) else { return nil }
        return (slots[slot].seq, slots[slot].rows, slots[slot].columns)
    }

    /// The deltas of a published table after `seq` in `epoch`, if its
    /// history holds every one of them (none when `seq` is current); nil
    /// when a snapshot is needed (another epoch, a seq ahead, deltas gone).
    public func deltas(of table: TableID, since seq: UInt64, epoch: String) -> [DeltaHistory.Delta]? {
        guard epoch == self.epoch, let slot = live(table) else { return nil }
        return slots[slot].history.deltas(after: seq, current: slots[slot].seq)
    }

    /// The table's seq, live or not.
    public func seq(_ table: TableID) -> UInt64? { index[table].map { slots[$0].seq } }

    /// One heartbeat frame per published table.
    public func heartbeats() -> [[UInt8]] {
        openTables.map { table in
            DataMessage.heartbeat(.init(table: table, publisher: node, epoch: epoch, seq: slots[index[table]!].seq)).encoded()
        }
    }
}
