import PolicyEngine

/// One table's delta of a large data-source change, put into the
/// publisher's rows (`TablePublisher.stage`) and written as its frame's
/// JSON a slice at a time, then published whole with one seq
/// (`TablePublisher.publishStaged`). Between its slices the table's rows are
/// half changed, so the node serves no request then (`DataSourceBehavior.changeHoldsRequests`).
struct StagedDelta {
    let table: TableID
    let added: [Row]
    let removed: [Row]
    /// The frame after the seq, as far as written: `,"added":[...],"removed":[...]}`.
    private(set) var tail = JSONWriter()
    /// Rows staged so far: the added ones, then the removed ones.
    private var position = 0
    private var addedClosed = false
    private(set) var isStaged = false

    init(table: TableID, added: [Row], removed: [Row]) {
        self.table = table
        self.added = added
        self.removed = removed
        tail.raw(",\"added\":[")
        closeParts()
    }

    /// Stages and writes about `budget` more rows.
    mutating func step(rows budget: Int, context: NodeContext) {
        if position < added.count {
            let slice = added[position..<min(added.count, position + budget)]
            // Room for every added row at the first slice: one resize, not one per slice.
            context.stage(table, adding: slice, removing: EmptyCollection(), total: position == 0 ? added.count : 0)
            tail.rowElements(slice, first: position == 0)
            position += slice.count
        } else {
            let start = position - added.count
            let slice = removed[start..<min(removed.count, start + budget)]
            context.stage(table, adding: EmptyCollection(), removing: slice, total: 0)
            tail.rowElements(slice, first: start == 0)
            position += slice.count
        }
        closeParts()
    }

    /// Ends the `added` array once its rows are written, and the frame once all are.
    private mutating func closeParts() {
        if !addedClosed, position == added.count {
            tail.raw("],\"removed\":[")
            addedClosed = true
        }
        if !isStaged, position == added.count + removed.count {
            tail.raw("]}")
            isStaged = true
        }
    }
}
