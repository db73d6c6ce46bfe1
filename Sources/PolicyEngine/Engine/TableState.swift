/// Which contents of a table a join reads during a transaction.
enum View {
    /// What is stored now.
    case current
    /// What was stored before the transaction: now, minus rows added, plus rows removed.
    case old
}

/// One table's materialised rows, plus the bookkeeping of the running transaction.
///
/// A row is present when it is a fact (inserted from outside or in policy text)
/// or has at least one derivation. Non-recursive tables keep an exact derivation
/// count per row (counting maintenance); tables in recursive strata only keep
/// presence (DRed), so their counts are invalid until recounted.
final class TableState {
    let id: TableID
    let arity: Int
    let rows: RowStore
    /// Derivation count per row id (facts not included).
    var counts: [Int32] = []
    /// Whether each row id is a fact.
    var facts: [Bool] = []
    /// False after the table was maintained by DRed: counting must recount it first.
    var countsValid = true

    // MARK: Transaction state. Empty between transactions.

    /// Ids of rows added by the transaction (they were absent before it).
    private(set) var added: Set<UInt32> = []
    /// Rows removed by the transaction (they were present before it).
    private(set) var removed: RowStore
    /// Fact changes requested by the transaction: row -> wanted fact state.
    var pendingFacts: RowStore
    var pendingFactState: [Bool] = []

    init(id: TableID, arity: Int) {
        self.id = id
        self.arity = arity
        rows = RowStore(arity: arity)
        removed = RowStore(arity: arity)
        pendingFacts = RowStore(arity: arity)
    }

    var hasDelta: Bool { !added.isEmpty || !removed.isEmpty }

    func isFact(_ id: UInt32) -> Bool { facts[Int(id)] }

    /// Stores `values` (absent before) with the given count and fact flag, and records it in the delta.
    @discardableResult
    func add(_ values: [UInt32], count: Int32, fact: Bool) -> UInt32 {
        let (id, _) = rows.insert(values)
        while counts.count <= Int(id) {
            counts.append(0)
            facts.append(false)
        }
        counts[Int(id)] = count
        facts[Int(id)] = fact
        if let gone = removed.find(values) {
            removed.remove(gone)
        } else {
            added.insert(id)
        }
        return id
    }

    /// Removes a present row and records it in the delta.
    func remove(_ id: UInt32) {
        let values = rows.row(id)
        rows.remove(id)
        counts[Int(id)] = 0
        facts[Int(id)] = false
        if added.remove(id) == nil { removed.insert(values) }
    }

    /// Whether a row with `columns` equal to `key` exists in `view`.
    func exists(_ view: View, columns: [Int], key: [UInt32]) -> Bool {
        var found = false
        forEach(view, columns: columns, key: key) { _, _ in
            found = true
            return false
        }
        return found
    }

    /// Calls `body(store, id)` for each row of `view` whose `columns` equal `key`, until it returns false.
    @inline(__always)
    func forEach(_ view: View, columns: [Int], key: [UInt32], _ body: (RowStore, UInt32) -> Bool) {
        switch view {
        case .current:
            rows.forEach(columns: columns, key: key) { body(rows, $0) }
        case .old:
            var stopped = false
            rows.forEach(columns: columns, key: key) { id in
                if added.contains(id) { return true }
                if !body(rows, id) {
                    stopped = true
                    return false
                }
                return true
            }
            if stopped || removed.isEmpty { return }
            removed.forEach(columns: columns, key: key) { body(removed, $0) }
        }
    }

    /// The transaction's net change, as interned rows.
    func delta() -> (added: [[UInt32]], removed: [[UInt32]]) {
        (added.map { rows.row($0) }, removed.ids.map { removed.row($0) })
    }

    /// Ends the transaction's bookkeeping.
    func clearTransaction() {
        if !added.isEmpty { added = [] }
        if !removed.isEmpty { removed = RowStore(arity: arity) }
        if !pendingFacts.isEmpty {
            pendingFacts = RowStore(arity: arity)
            pendingFactState = []
        }
    }

    /// Records that the transaction wants `values` to be a fact (or not).
    func requestFact(_ values: [UInt32], _ wanted: Bool) {
        let (id, _) = pendingFacts.insert(values)
        while pendingFactState.count <= Int(id) { pendingFactState.append(false) }
        pendingFactState[Int(id)] = wanted
    }
}
