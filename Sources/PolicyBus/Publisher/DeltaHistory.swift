import PolicyEngine

/// A published table's recent deltas, so that a subscriber that missed a
/// few can be sent those instead of the whole table (`subscribe` with
/// `since`). Bounded by a count and by the bytes of the deltas' frames; the
/// oldest go first.
public struct DeltaHistory: Sendable {
    public struct Delta: Sendable, Hashable {
        public var seq: UInt64
        public var added: [Row]
        public var removed: [Row]
    }

    /// The bounds; either at 0 keeps no history.
    public struct Bounds: Hashable, Sendable {
        public var deltas: Int
        public var bytes: Int
        /// Defaults: a few seconds at 10 000 small deltas a second.
        public init(deltas: Int = 50_000, bytes: Int = 16 << 20) {
            self.deltas = deltas
            self.bytes = bytes
        }
    }

    let bounds: Bounds
    /// Oldest first from `head`; slots before `head` are dropped (emptied)
    /// and reclaimed in one go once they are half the array: O(1) amortized.
    private var deltas: [Delta] = []
    private var sizes: [Int] = []
    private var head = 0
    private(set) var bytes = 0

    public init(bounds: Bounds) {
        self.bounds = bounds
    }

    public var count: Int { deltas.count - head }

    /// Keeps a delta (seqs come in order, one apart) whose frame is `size` bytes.
    mutating func append(_ delta: Delta, size: Int) {
        guard bounds.deltas > 0, size <= bounds.bytes else { return removeAll() }
        while count > 0 && (count >= bounds.deltas || bytes + size > bounds.bytes) { dropOldest() }
        deltas.append(delta)
        sizes.append(size)
        bytes += size
    }

    /// Drops the oldest delta (there must be one).
    mutating func dropOldest() {
        bytes -= sizes[head]
        deltas[head] = Delta(seq: 0, added: [], removed: [])  // frees its rows now
        head += 1
        if head >= 1024 && head * 2 >= deltas.count {
            deltas.removeFirst(head)
            sizes.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        deltas = []
        sizes = []
        head = 0
        bytes = 0
    }

    /// Every delta after `seq` up to `current`, in order, if the history
    /// still holds them all; nil if some are gone (or `seq` is ahead).
    func deltas(after seq: UInt64, current: UInt64) -> [Delta]? {
        guard seq <= current else { return nil }
        if seq == current { return [] }
        guard count > 0, deltas[head].seq <= seq + 1, deltas.last?.seq == current else { return nil }
        // Seqs are consecutive: the delta after `seq` is at a known offset.
        return Array(deltas[(head + Int(seq + 1 - deltas[head].seq))...])
    }
}
