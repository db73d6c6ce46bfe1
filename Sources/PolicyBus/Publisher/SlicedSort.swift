import PolicyEngine

/// A table's rows taken at one moment, to be copied out later in pieces.
enum RowSource {
    /// A data source's table: its rows as a set (shared with the publisher
    /// until the table next changes, which then copies the set once).
    case set(Set<Row>, next: Set<Row>.Index)
    /// An engine's table (`Engine.frozenRows`), read by row id.
    case engine(FrozenRows, next: Int)

    init(_ rows: Set<Row>) { self = .set(rows, next: rows.startIndex) }
    init(_ rows: FrozenRows) { self = .engine(rows, next: 0) }

    var count: Int {
        switch self {
        case .set(let rows, _): rows.count
        case .engine(let rows, _): rows.count
        }
    }

    /// Appends up to about `limit` more rows to `rows`.
    /// - Returns: whether every row has been taken.
    mutating func take(_ limit: Int, into rows: inout [Row]) -> Bool {
        switch self {
        case .set(let set, var next):
            var taken = 0
            while next != set.endIndex, taken < limit {
                rows.append(set[next])
                set.formIndex(after: &next)
                taken += 1
            }
            self = .set(set, next: next)
            return next == set.endIndex
        case .engine(let frozen, let next):
            let end = min(next + limit, frozen.idLimit)
            frozen.append(ids: next..<end, to: &rows)
            self = .engine(frozen, next: end)
            return end == frozen.idLimit
        }
    }
}

/// A table's rows copied from a `RowSource` and sorted one step at a time,
/// each step bounded (`stepRows`), so that the node's loop, which runs the
/// steps within its budget, serves its clients and heartbeats between them.
///
/// Copy the rows, sort them in runs of `stepRows`, then merge the runs (a
/// heap of their heads): the same comparisons as one sort, spread over steps.
struct SlicedSort {
    /// Rows one step copies, sorts or merges: a step of a debug build takes
    /// a few milliseconds.
    static let stepRows = 256

    private var source: RowSource?
    /// The rows: copied, then sorted in runs, then merged into `merged`.
    private(set) var rows: [Row] = []
    private var runsSorted = 0
    private var merge: Merge?
    private(set) var isDone = false

    /// The merge's state: each run's next row, and a heap of the runs by it.
    private struct Merge {
        var heads: [Int]
        var ends: [Int]
        var heap: [Int]
        var merged: [Row]
    }

    init(_ source: RowSource) {
        self.source = source
        rows.reserveCapacity(source.count)
    }

    /// Whether `count` rows take at most one step to sort: sorted at once.
    static func sortsInOneStep(_ count: Int) -> Bool { count <= stepRows }

    /// How many rows the sorted table has (known from the start).
    var count: Int { source?.count ?? rows.count }

    private var runCount: Int { (rows.count + Self.stepRows - 1) / Self.stepRows }

    /// Does one step of the work left.
    mutating func step() {
        guard !isDone else { return }
        if source != nil {
            if source!.take(Self.stepRows, into: &rows) { source = nil }
        } else if runsSorted < runCount {
            let start = runsSorted * Self.stepRows
            let end = min(start + Self.stepRows, rows.count)
            rows.withUnsafeMutableBufferPointer { $0[start..<end].sort(by: Self.precedes) }
            runsSorted += 1
        } else if runCount <= 1 {
            isDone = true
        } else {
            mergeStep()
        }
    }

    /// Does every step left (a small table, or a caller that cannot wait).
    mutating func finish() {
        while !isDone { step() }
    }

    static func precedes(_ lhs: Row, _ rhs: Row) -> Bool { lhs.lexicographicallyPrecedes(rhs) }

    private mutating func mergeStep() {
        // Taken out, so that appending to `merged` does not copy it.
        var state = merge ?? startMerge()
        merge = nil
        var moved = 0
        while moved < Self.stepRows, let run = state.heap.first {
            // Moved, not copied: the unsorted rows, dropped whole at the
            // end, then hold only empty rows, and releasing a million
            // shared ones in that one step held the loop 20-40 ms.
            state.merged.append(rows[state.heads[run]])
            rows[state.heads[run]] = []
            state.heads[run] += 1
            if state.heads[run] == state.ends[run] {
                state.heap[0] = state.heap[state.heap.count - 1]
                state.heap.removeLast()
            }
            siftDown(&state, from: 0)
            moved += 1
        }
        if state.heap.isEmpty {
            rows = state.merged
            merge = nil
            isDone = true
        } else {
            merge = state
        }
    }

    private func startMerge() -> Merge {
        let starts = Array(stride(from: 0, to: rows.count, by: Self.stepRows))
        var merged: [Row] = []
        merged.reserveCapacity(rows.count)
        var state = Merge(heads: starts, ends: starts.map { min($0 + Self.stepRows, rows.count) }, heap: Array(starts.indices), merged: merged)
        for position in stride(from: state.heap.count / 2 - 1, through: 0, by: -1) { siftDown(&state, from: position) }
        return state
    }

    /// Restores the heap below `position`: a run's head row precedes its children's.
    private func siftDown(_ state: inout Merge, from position: Int) {
        var parent = position
        while true {
            var first = parent
            for child in 2 * parent + 1...2 * parent + 2 where child < state.heap.count
                && Self.precedes(rows[state.heads[state.heap[child]]], rows[state.heads[state.heap[first]]]) {
                first = child
            }
            guard first != parent else { return }
            state.heap.swapAt(parent, first)
            parent = first
        }
    }
}
