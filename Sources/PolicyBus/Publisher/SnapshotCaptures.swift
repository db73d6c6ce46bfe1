import PolicyEngine

/// The snapshots being taken of tables and streamed to clients in chunks
/// (`snapshot-chunk`, docs/PROTOCOL.md section 4).
///
/// A `subscribe` takes its table's rows at the table's seq (a `RowSource`:
/// shared with the table, no copy) and the node sorts them into the capture
/// a bounded step at a time (`SlicedSort`), within its loop budget, between
/// its other work; the reply goes once the capture is whole. Deltas that
/// arrive meanwhile change the table, not the capture: a capture is its
/// table at its seq. Subscribers of the same table at the same seq share
/// one capture (ten subscribers of a 1M-row table cost one copy). A table
/// has at most `perTable` captures at once (each at another seq); a
/// subscribe that needs one more is `busy`. A capture goes when each client
/// it was given to has read its last chunk, or when nobody has read from it
/// for `idleNanoseconds` (a client that vanished mid-stream).
public struct SnapshotCaptures {
    struct Capture {
        let table: TableID
        let seq: UInt64
        var sorting: SlicedSort
        /// Clients given it (or waiting for it) and not yet at its last chunk.
        var readers: Int
        var lastRead: UInt64
        /// Where each chunk read so far ends, by its offset: its readers
        /// read the same chunks, and working an end out encodes its rows
        /// (ten subscribers' replies took 150 ms of one turn for it).
        var chunkEnds: [Int: Int] = [:]
        var rows: [Row] { sorting.rows }
    }

    /// The bytes of rows one chunk holds at most (one row more when a single
    /// row is larger).
    public let chunkBytes: Int
    /// How long a capture nobody reads is kept.
    public let idleNanoseconds: UInt64
    /// Most captures of one table held at once.
    public let perTable: Int
    var captures: [String: Capture] = [:]
    /// The captures being sorted, in the order they are served.
    private(set) var building: [String] = []

    public static let defaultPerTable = 4

    public init(chunkBytes: Int, idleNanoseconds: UInt64, perTable: Int = SnapshotCaptures.defaultPerTable) {
        self.chunkBytes = max(chunkBytes, 1)
        self.idleNanoseconds = idleNanoseconds
        self.perTable = max(perTable, 1)
    }

    /// How many captures are held.
    public var count: Int { captures.count }

    /// Whether a capture is still being sorted.
    var isBuilding: Bool { !building.isEmpty }

    /// The capture of `table` at `seq` for one more client: the one being
    /// held, or a new one of `source()`'s rows (read only then). A table's
    /// small enough to sort in one step is sorted at once.
    /// - Throws: `busy` when the table has `perTable` captures already.
    mutating func capture(of table: TableID, seq: UInt64, now: UInt64, source: () -> RowSource) throws(BusError) -> String {
        if let id = captures.first(where: { $0.value.table == table && $0.value.seq == seq })?.key {
            captures[id]!.readers += 1
            captures[id]!.lastRead = now
            return id
        }
        try checkRoom(for: table, seq: seq)
        var sorting = SlicedSort(source())
        if SlicedSort.sortsInOneStep(sorting.count) { sorting.finish() }
        var id = randomHexID()
        while captures[id] != nil { id = randomHexID() }
        captures[id] = Capture(table: table, seq: seq, sorting: sorting, readers: 1, lastRead: now)
        if !sorting.isDone { building.append(id) }
        return id
    }

    /// Throws `busy` when a capture of `table` at `seq` would be one more
    /// than the table may have: checked before a `subscribe` changes
    /// anything, so that a refused one leaves the client as it was.
    func checkRoom(for table: TableID, seq: UInt64) throws(BusError) {
        guard !captures.values.contains(where: { $0.table == table && $0.seq == seq }) else { return }
        let held = captures.values.filter { $0.table == table }.count
        guard held < perTable else {
            throw BusError(.busy, "\(held) snapshots of \(table) are being taken or read (the limit, each at another seq): subscribe again later")
        }
    }

    /// Whether capture `id` is whole (a dropped one counts as whole).
    func isDone(_ id: String) -> Bool { captures[id]?.sorting.isDone ?? true }

    /// Does one step of the capture whose turn it is.
    /// - Returns: the capture's id when that step finished it.
    mutating func step() -> String? {
        guard !building.isEmpty else { return nil }
        let id = building.removeFirst()
        guard captures[id] != nil else { return nil }
        captures[id]!.sorting.step()
        guard captures[id]!.sorting.isDone else {
            building.append(id)
            return nil
        }
        return id
    }

    /// Finishes capture `id` at once (a caller that cannot wait for the loop).
    mutating func finish(_ id: String) {
        captures[id]?.sorting.finish()
        building.removeAll { $0 == id }
    }

    /// What a reply carries for one client of whole capture `id`: its rows
    /// when they fit in one chunk (the client is then done with it), else
    /// the id to read in chunks and how many rows it holds.
    mutating func contents(of id: String, now: UInt64) -> ControlReply.Subscribed.Snapshot.Contents {
        guard let capture = captures[id] else { return .rows([]) }
        captures[id]!.lastRead = now
        guard chunkEnd(of: id, from: 0) < capture.rows.count else {
            release(id)
            return .rows(capture.rows)
        }
        return .chunked(id: id, rows: capture.rows.count)
    }

    /// The chunk of capture `id` that starts at row `offset`, and how many rows follow it.
    /// - Throws: `snapshot-gone` for a capture dropped (or never made: the
    ///   node restarted), `bad-request` for an offset past its end.
    mutating func chunk(_ id: String, offset: Int, now: UInt64) throws(BusError) -> (rows: ArraySlice<Row>, more: Int) {
        guard let capture = captures[id], capture.sorting.isDone else {
            throw BusError(.snapshotGone, "snapshot '\(id)' is gone (unread for too long, or the node restarted): subscribe again")
        }
        guard offset <= capture.rows.count else {
            throw BusError(.badRequest, "\"offset\" \(offset) is past the snapshot's \(capture.rows.count) rows")
        }
        let end = chunkEnd(of: id, from: offset)
        captures[id]!.lastRead = now
        if end == capture.rows.count { release(id) }
        return (capture.rows[offset..<end], capture.rows.count - end)
    }

    /// Where whole capture `id`'s chunk that starts at `offset` ends, worked out once.
    private mutating func chunkEnd(of id: String, from offset: Int) -> Int {
        if let end = captures[id]!.chunkEnds[offset] { return end }
        let end = Self.chunkEnd(captures[id]!.rows, from: offset, bytes: chunkBytes)
        captures[id]!.chunkEnds[offset] = end
        return end
    }

    /// One reader is done with capture `id`; the last one drops it.
    private mutating func release(_ id: String) {
        captures[id]!.readers -= 1
        if captures[id]!.readers <= 0 { captures[id] = nil }
    }

    /// Drops the whole captures nobody read for `idleNanoseconds`.
    /// - Returns: how many were dropped.
    @discardableResult
    mutating func expire(now: UInt64) -> Int {
        let idle = captures.filter { $0.value.sorting.isDone && now > $0.value.lastRead && now - $0.value.lastRead > idleNanoseconds }.keys
        for id in idle { captures[id] = nil }
        return idle.count
    }

    /// Where a chunk that starts at `start` ends: after the rows whose JSON
    /// adds up to `bytes` (at least one row).
    static func chunkEnd(_ rows: [Row], from start: Int, bytes: Int) -> Int {
        var writer = JSONWriter(capacity: 1024)
        var total = 0
        var end = start
        while end < rows.count {
            writer.bytes.removeAll(keepingCapacity: true)
            writer.json(.array(rows[end].map(JSON.init)))
            total += writer.bytes.count + 1
            if total > bytes, end > start { break }
            end += 1
        }
        return end
    }
}
