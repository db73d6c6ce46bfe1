import PolicyEngine

/// The snapshots being streamed to clients in chunks (`snapshot-chunk`,
/// docs/PROTOCOL.md section 4).
///
/// A table's rows are captured once, sorted, when a `subscribe` needs a
/// snapshot larger than one chunk, and every chunk is cut from that capture:
/// the snapshot stays one table at one seq however many deltas follow while
/// it streams. Subscribers of the same table at the same seq share one
/// capture (ten subscribers of a 1M-row table cost one copy). A capture goes when each client
/// it was given to has read its last chunk, or when nobody has read from it
/// for `idleNanoseconds` (a client that vanished mid-stream).
public struct SnapshotCaptures {
    struct Capture {
        let table: TableID
        let seq: UInt64
        let rows: [Row]
        /// Clients given it and not yet at its last chunk.
        var readers: Int
        var lastRead: UInt64
    }

    /// The bytes of rows one chunk holds at most (one row more when a single
    /// row is larger).
    public let chunkBytes: Int
    /// How long a capture nobody reads is kept.
    public let idleNanoseconds: UInt64
    var captures: [String: Capture] = [:]

    public init(chunkBytes: Int, idleNanoseconds: UInt64) {
        self.chunkBytes = max(chunkBytes, 1)
        self.idleNanoseconds = idleNanoseconds
    }

    /// How many captures are held.
    public var count: Int { captures.count }

    /// The snapshot of `table` at `seq` for one more client: its rows when
    /// they fit in one chunk, else the id of a capture to read in chunks.
    /// - Parameter rows: the table's rows, sorted; read only when no capture
    ///   of the table at `seq` exists.
    mutating func snapshot(of table: TableID, seq: UInt64, now: UInt64, rows: () -> [Row]) -> (rows: [Row]?, captured: (id: String, rows: Int)?) {
        if let (id, capture) = captures.first(where: { $0.value.table == table && $0.value.seq == seq }) {
            captures[id]!.readers += 1
            captures[id]!.lastRead = now
            return (nil, (id, capture.rows.count))
        }
        let all = rows()
        guard Self.chunkEnd(all, from: 0, bytes: chunkBytes) < all.count else { return (all, nil) }
        var id = randomHexID()
        while captures[id] != nil { id = randomHexID() }
        captures[id] = Capture(table: table, seq: seq, rows: all, readers: 1, lastRead: now)
        return (nil, (id, all.count))
    }

    /// The chunk of capture `id` that starts at row `offset`, and how many rows follow it.
    /// - Throws: `snapshot-gone` for a capture dropped (or never made: the
    ///   node restarted), `bad-request` for an offset past its end.
    mutating func chunk(_ id: String, offset: Int, now: UInt64) throws(BusError) -> (rows: ArraySlice<Row>, more: Int) {
        guard let capture = captures[id] else {
            throw BusError(.snapshotGone, "snapshot '\(id)' is gone (unread for too long, or the node restarted): subscribe again")
        }
        guard offset <= capture.rows.count else {
            throw BusError(.badRequest, "\"offset\" \(offset) is past the snapshot's \(capture.rows.count) rows")
        }
        let end = Self.chunkEnd(capture.rows, from: offset, bytes: chunkBytes)
        captures[id]!.lastRead = now
        if end == capture.rows.count {
            captures[id]!.readers -= 1
            if captures[id]!.readers <= 0 { captures[id] = nil }
        }
        return (capture.rows[offset..<end], capture.rows.count - end)
    }

    /// Drops the captures nobody read for `idleNanoseconds`.
    /// - Returns: how many were dropped.
    @discardableResult
    mutating func expire(now: UInt64) -> Int {
        let idle = captures.filter { now > $0.value.lastRead && now - $0.value.lastRead > idleNanoseconds }.keys
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
