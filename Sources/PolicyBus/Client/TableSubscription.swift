import PolicyEngine

/// The client side of one table subscription, as a pure state machine.
///
/// It follows the protocol's client rules: deltas that arrive before the
/// snapshot are buffered; after the snapshot those at or below its seq are
/// dropped and the rest applied in order. A gap, a new epoch, a heartbeat
/// ahead of the applied seq, or silence makes it ask for a resync. The owner
/// does the I/O: it feeds messages and snapshots in, calls `tick` now and
/// then, and sends a `subscribe` whenever an event says `.resync`.
public struct TableSubscription: Sendable {
    /// Something the owner should pass on or act on.
    public enum Event: Hashable, Sendable {
        /// The table's full contents, from a (re)subscribe.
        case snapshot(rows: Set<Row>, seq: UInt64)
        /// A change applied on top of the contents.
        case delta(added: [Row], removed: [Row], seq: UInt64)
        /// A resync was answered with the missed deltas (`subscribe` with
        /// `since`) rather than a snapshot: the contents are in step again;
        /// those deltas follow as `.delta`s.
        case resumed(seq: UInt64)
        /// The contents can no longer be trusted: the owner must request a
        /// fresh snapshot (`subscribe`) and feed it to `applySnapshot`.
        case resync(ResyncReason)
    }

    public enum ResyncReason: String, Hashable, Sendable {
        case gap
        case newEpoch = "new-epoch"
        case heartbeatAhead = "heartbeat-ahead"
        case silence
        case bufferOverflow = "buffer-overflow"
        /// The node no longer holds the subscription (lease expired, restart).
        case leaseLost = "lease-lost"
    }

    public let table: TableID
    /// The table's current contents (valid when `isSynced`).
    public private(set) var rows: Set<Row> = []
    /// The seq of the last applied snapshot or delta.
    public private(set) var seq: UInt64 = 0
    /// The publisher's epoch, from the last snapshot.
    public private(set) var epoch: String?
    /// The highest seq the publisher announced in this epoch (by a delta or
    /// a heartbeat); at least `seq`.
    public private(set) var announcedSeq: UInt64 = 0
    /// How many seqs the contents are behind what the publisher announced.
    public var seqLag: UInt64 { announcedSeq > seq ? announcedSeq - seq : 0 }
    /// Whether a snapshot has been applied and no resync is pending.
    public private(set) var isSynced = false
    /// When the last message for this table arrived, in the owner's clock (ns).
    public private(set) var lastHeard: UInt64

    var buffer: [DataMessage.Delta] = []
    /// Most deltas kept while waiting for a snapshot.
    public var maxBuffered = 100_000
    /// Silence longer than this (ns) means the publisher is gone.
    public var silenceLimit: UInt64

    /// - Parameters:
    ///   - table: the table.
    ///   - silenceLimit: nanoseconds without any message before resyncing
    ///     (the protocol says 3 x the node's heartbeat interval).
    ///   - now: the current time in nanoseconds (any monotonic clock).
    public init(table: TableID, silenceLimit: UInt64, now: UInt64) {
        self.table = table
        self.silenceLimit = silenceLimit
        self.lastHeard = now
    }

    /// Feeds one data message for this table.
    public mutating func receive(_ message: DataMessage, now: UInt64) -> [Event] {
        lastHeard = now
        switch message {
        case .delta(let delta):
            if delta.epoch == epoch { announcedSeq = max(announcedSeq, delta.seq) }
            return receive(delta)
        case .heartbeat(let heartbeat):
            if heartbeat.epoch == epoch { announcedSeq = max(announcedSeq, heartbeat.seq) }
            guard isSynced else { return [] }
            if heartbeat.epoch != epoch { return startResync(.newEpoch) }
            if heartbeat.seq > seq { return startResync(.heartbeatAhead) }
            return []
        }
    }

    mutating func receive(_ delta: DataMessage.Delta) -> [Event] {
        guard isSynced else {
            if buffer.count >= maxBuffered { buffer.removeFirst(buffer.count / 2) }
            buffer.append(delta)
            return []
        }
        if delta.epoch != epoch { return startResync(.newEpoch, keeping: delta) }
        if delta.seq <= seq { return [] }  // a duplicate or stale delta
        if delta.seq != seq + 1 { return startResync(.gap, keeping: delta) }
        return [apply(delta)]
    }

    mutating func apply(_ delta: DataMessage.Delta) -> Event {
        for row in delta.removed { rows.remove(row) }
        for row in delta.added { rows.insert(row) }
        seq = delta.seq
        return .delta(added: delta.added, removed: delta.removed, seq: delta.seq)
    }

    /// Marks the contents stale. `keeping` is a delta that already arrived
    /// and may follow the coming snapshot.
    mutating func startResync(_ reason: ResyncReason, keeping delta: DataMessage.Delta? = nil) -> [Event] {
        isSynced = false
        buffer.removeAll()
        if let delta { buffer.append(delta) }
        return [.resync(reason)]
    }

    /// Asks for a resync from outside (for example after a lost lease).
    public mutating func invalidate(_ reason: ResyncReason) -> [Event] {
        isSynced ? startResync(reason) : []
    }

    /// Applies a snapshot from a `subscribe` reply, then the buffered deltas
    /// that follow it.
    /// - Returns: `.snapshot`, then `.delta`s, and a `.resync` if the buffer
    ///   shows a gap right after the snapshot.
    public mutating func applySnapshot(rows: Set<Row>, seq: UInt64, epoch: String, now: UInt64) -> [Event] {
        self.rows = rows
        announcedSeq = epoch == self.epoch ? max(announcedSeq, seq) : seq
        self.seq = seq
        self.epoch = epoch
        self.isSynced = true
        self.lastHeard = now
        return [.snapshot(rows: rows, seq: seq)] + applyBuffered(epoch: epoch)
    }

    /// Where a resync can resume from: the epoch and seq of the contents,
    /// once a snapshot was applied.
    public var resumePoint: (epoch: String, seq: UInt64)? { epoch.map { ($0, seq) } }

    /// Applies a resume from a `subscribe` reply: the deltas after `seq`
    /// (the `resumePoint` asked from) up to `current`, then the buffered ones.
    /// - Returns: nil, changing nothing, when they do not follow the
    ///   contents (ask for a snapshot); else `.resumed` and the `.delta`s.
    public mutating func applyResume(
        _ deltas: [(seq: UInt64, added: [Row], removed: [Row])], current: UInt64, epoch: String, now: UInt64
    ) -> [Event]? {
        guard !isSynced, epoch == self.epoch, (deltas.last?.seq ?? seq) == current,
            deltas.enumerated().allSatisfy({ $0.element.seq == seq + UInt64($0.offset) + 1 })
        else { return nil }
        isSynced = true
        lastHeard = now
        announcedSeq = max(announcedSeq, current)
        var events: [Event] = [.resumed(seq: current)]
        for delta in deltas {
            for row in delta.removed { rows.remove(row) }
            for row in delta.added { rows.insert(row) }
            seq = delta.seq
            events.append(.delta(added: delta.added, removed: delta.removed, seq: delta.seq))
        }
        return events + applyBuffered(epoch: epoch)
    }

    /// Applies the deltas buffered while waiting, those after `seq`.
    mutating func applyBuffered(epoch: String) -> [Event] {
        var events: [Event] = []
        let pending = buffer
        buffer.removeAll()
        for (position, delta) in pending.enumerated() where delta.epoch == epoch && delta.seq > self.seq {
            guard delta.seq == self.seq + 1 else {
                events += startResync(.gap)
                buffer.append(contentsOf: pending[position...].filter { $0.epoch == epoch })
                return events
            }
            events.append(apply(delta))
        }
        return events
    }

    /// Checks for silence.
    /// - Returns: `.resync(.silence)` when nothing arrived for `silenceLimit`.
    public mutating func tick(now: UInt64) -> [Event] {
        guard isSynced, now > lastHeard, now - lastHeard > silenceLimit else { return [] }
        lastHeard = now
        return startResync(.silence)
    }
}
