/// Which contents of a table a join reads during a transaction.
enum View {
    /// What is stored now.
    case current
    /// What was stored before the transaction: now, minus rows added, plus rows removed.
    case old
    /// During a recursive stratum's proof search: the rows proved so far for the
    /// stratum's tables, and what is stored now for every other table.
    case proved
}

/// The backward/forward proof search's sets for one table of a recursive stratum.
final class ProofSets {
    /// Rows whose provability was examined.
    let checked: RowStore
    /// Rows proved from facts, lower strata and other proved rows: they stay.
    let proved: RowStore
    /// Rows found unprovable when examined; deleted at the end unless proved later.
    let deleted: RowStore

    init(arity: Int) {
        checked = RowStore(arity: arity)
        proved = RowStore(arity: arity)
        deleted = RowStore(arity: arity)
    }
}

/// One table's materialised rows, plus the bookkeeping of the running transaction.
///
/// A row is present when it is a fact (inserted from outside or in policy text)
/// or has at least one derivation. Non-recursive tables keep an exact derivation
/// count per row (counting maintenance); tables in recursive strata only keep
/// presence, so their counts are invalid until recounted.
///
/// The per-row arrays are `@exclusivity(unchecked)`, as in `RowStore` and for
/// the same reason: one thread, and only plain element reads and writes.
final class TableState {
    let id: TableID
    let arity: Int
    let rows: RowStore
    /// Derivation count per row id (facts not included); the rank in recursive strata.
    @exclusivity(unchecked) var counts: [Int32] = []
    /// Whether each row id is a fact.
    @exclusivity(unchecked) var facts: [Bool] = []
    /// False after the table was maintained as recursive: counting must recount it first.
    var countsValid = true
    /// Some rule derives into this table (kept in step with the program graph).
    var isDerived = false
    /// In a recursive stratum, `counts` holds each row's rank instead: this
    /// token says for which set of stratum tables those ranks are valid.
    var rankToken: RankToken?
    /// Set while a recursive stratum's deletions are being proved.
    var proof: ProofSets?
    /// Grows at the end of every transaction that changed the rows (what
    /// `Engine.rows(of:)` caches its sorted copy by).
    private(set) var version = 0

    // MARK: Transaction state. Empty between transactions.

    /// Whether each row id was added by the transaction (it was absent before).
    /// Ids of rows added and then removed are not reused until the transaction
    /// ends, so `addedList` never holds an id twice.
    @exclusivity(unchecked) private var addedFlags: [Bool] = []
    /// Ids that were added, in order; an entry whose flag is clear was removed again.
    @exclusivity(unchecked) private var addedList: [UInt32] = []
    @exclusivity(unchecked) private var addedCount = 0
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

    var hasDelta: Bool { addedCount > 0 || !removed.isEmpty }

    @inline(__always)
    func wasAdded(_ id: UInt32) -> Bool { Int(id) < addedFlags.count && addedFlags[Int(id)] }

    func isFact(_ id: UInt32) -> Bool { facts[Int(id)] }

    /// Stores `values` (absent before) with the given count and fact flag, and records it in the delta.
    @discardableResult
    func add(_ values: [UInt32], count: Int32, fact: Bool) -> UInt32 {
        addIfAbsent(values, count: count, fact: fact) ?? rows.find(values)!
    }

    /// Like `add`, but does nothing and returns nil when `values` is stored already.
    func addIfAbsent(_ values: [UInt32], count: Int32, fact: Bool) -> UInt32? {
        let (id, inserted) = rows.insert(values)
        guard inserted else { return nil }
        while counts.count <= Int(id) {
            counts.append(0)
            facts.append(false)
            addedFlags.append(false)
        }
        counts[Int(id)] = count
        facts[Int(id)] = fact
        if let gone = removed.find(values) {
            removed.remove(gone)
        } else {
            addedFlags[Int(id)] = true
            addedList.append(id)
            addedCount += 1
        }
        return id
    }

    /// Removes a present row and records it in the delta.
    func remove(_ id: UInt32) {
        counts[Int(id)] = 0
        facts[Int(id)] = false
        if addedFlags[Int(id)] {
            addedFlags[Int(id)] = false
            addedCount -= 1
            rows.remove(id, reuse: false)
        } else {
            removed.insert(rows.row(id))
            rows.remove(id)
        }
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
        case .proved:
            let store = proof?.proved ?? rows
            store.forEach(columns: columns, key: key) { body(store, $0) }
        case .old:
            var stopped = false
            rows.forEach(columns: columns, key: key) { id in
                if wasAdded(id) { return true }
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

    /// Ids (in `rows`) of the rows the transaction added.
    var addedIDs: [UInt32] { addedCount == addedList.count ? addedList : addedList.filter { addedFlags[Int($0)] } }
    /// The rows the transaction removed.
    var removedRows: RowStore { removed }

    /// Makes `values` a fact (or not) at once, for tables that no rule derives into.
    func setFact(_ values: [UInt32], _ wanted: Bool) {
        if let id = rows.find(values) {
            guard facts[Int(id)] != wanted else { return }
            if wanted || counts[Int(id)] > 0 {
                facts[Int(id)] = wanted
            } else {
                remove(id)
            }
        } else if wanted {
            add(values, count: 0, fact: true)
        }
    }

    /// Ends the transaction's bookkeeping.
    func clearTransaction() {
        if hasDelta { version += 1 }
        if !addedList.isEmpty {
            for id in addedList { addedFlags[Int(id)] = false }
            addedList = []
            addedCount = 0
        }
        rows.releaseHeldIDs()
        if rows.isSparse { compact() }
        if !removed.isEmpty { removed = RowStore(arity: arity) }
        if !pendingFacts.isEmpty {
            pendingFacts = RowStore(arity: arity)
            pendingFactState = []
        }
    }

    /// Gives back the memory of deleted rows: renumbers the rows and their
    /// counts and fact flags. Between transactions no row id is held outside
    /// the table (ranks are in `counts`, which move with their rows).
    private func compact() {
        let kept = rows.compact()
        counts = kept.map { counts[Int($0)] }
        facts = kept.map { facts[Int($0)] }
        addedFlags = Array(repeating: false, count: kept.count)
    }

    /// Forgets the transaction's requested fact changes (a roll-back).
    func dropPendingFacts() {
        if pendingFacts.isEmpty { return }
        pendingFacts = RowStore(arity: arity)
        pendingFactState = []
    }

    /// Puts back the rows a table no rule derives into held before the
    /// transaction: all facts. `resetFlags` makes every row a fact with no
    /// derivation again, for a table that rules derived into meanwhile.
    func restoreFacts(resetFlags: Bool) {
        for id in addedIDs { remove(id) }
        let gone = removed.ids.map(removed.row)
        for row in gone { add(row, count: 0, fact: true) }
        guard resetFlags else { return }
        for id in rows.ids {
            counts[Int(id)] = 0
            facts[Int(id)] = true
        }
        countsValid = true
        rankToken = nil
    }

    /// Records that the transaction wants `values` to be a fact (or not).
    func requestFact(_ values: [UInt32], _ wanted: Bool) {
        let (id, _) = pendingFacts.insert(values)
        while pendingFactState.count <= Int(id) { pendingFactState.append(false) }
        pendingFactState[Int(id)] = wanted
    }
}
