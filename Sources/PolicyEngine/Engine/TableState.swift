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

    init(arity: Int, pausing pauses: LongWorkPauses?) {
        checked = RowStore(arity: arity, pausing: pauses)
        proved = RowStore(arity: arity, pausing: pauses)
        deleted = RowStore(arity: arity, pausing: pauses)
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
    /// The engine's values: each stored row holds its cells' values there.
    let pool: ValuePool
    /// Derivation count per row id (facts not included); the rank in recursive
    /// strata. Changed through `setCount` and `setFlag`, which keep the undo log.
    @exclusivity(unchecked) private(set) var counts: [Int32] = []
    /// Whether each row id is a fact.
    @exclusivity(unchecked) private(set) var facts: [Bool] = []
    /// False after the table was maintained as recursive: counting must recount it first.
    var countsValid = true {
        willSet { keepFlags() }
    }
    /// Some rule derives into this table (kept in step with the program graph).
    var isDerived = false
    /// In a recursive stratum, `counts` holds each row's rank instead: this
    /// token says for which set of stratum tables those ranks are valid.
    var rankToken: RankToken? {
        willSet { keepFlags() }
    }
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

    /// What undoes the transaction's changes to the ids below `idLimitBefore`,
    /// newest last (`undoTransaction`): so a roll-back costs what the
    /// transaction did, never the table's size. Rows stored at new ids (at or
    /// above `idLimitBefore`, whose ids are held back, never put on the free
    /// ids, when they are removed again) need no record: the roll-back cuts
    /// the store back to `idLimitBefore`.
    private enum Undo {
        /// The row was stored at `id`, a freed id it took.
        case added(UInt32)
        /// The row at `id` was removed with this count and flag; its cells
        /// are the newest `arity` of `undoCells`. `held`: its id was held back.
        case removed(UInt32, count: Int32, fact: Bool, held: Bool)
        /// The row at `id` had this count and flag.
        case changed(UInt32, count: Int32, fact: Bool)
    }
    @exclusivity(unchecked) private var undoLog: [Undo] = []
    /// The store's `idLimit` when the transaction began.
    @exclusivity(unchecked) private var idLimitBefore = 0
    @exclusivity(unchecked) private var undoCells: [UInt32] = []
    /// `countsValid` and `rankToken` before the transaction first changed them.
    private var flagsBefore: (countsValid: Bool, rankToken: RankToken?)?

    init(id: TableID, arity: Int, pool: ValuePool, pausing pauses: LongWorkPauses? = nil) {
        self.id = id
        self.arity = arity
        self.pool = pool
        self.pauses = pauses
        rows = RowStore(arity: arity, pausing: pauses)
        removed = RowStore(arity: arity, pausing: pauses)
        pendingFacts = RowStore(arity: arity, pausing: pauses)
    }

    /// The engine's pauses, for this table's stores (`RowStore.pauses`).
    private let pauses: LongWorkPauses?

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
        if Int(id) < idLimitBefore { undoLog.append(.added(id)) }
        for column in 0..<arity { pool.hold(values[column]) }
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
        let held = addedFlags[Int(id)]
        if Int(id) < idLimitBefore {
            undoLog.append(.removed(id, count: counts[Int(id)], fact: facts[Int(id)], held: held))
            for column in 0..<arity { undoCells.append(rows.cell(id, column)) }
        }
        for column in 0..<arity { pool.release(rows.cell(id, column)) }
        counts[Int(id)] = 0
        facts[Int(id)] = false
        if held {
            addedFlags[Int(id)] = false
            addedCount -= 1
            rows.remove(id, reuse: false)
        } else {
            removed.insert(rows.row(id))
            // An id past idLimitBefore (a row removed, stored again at a new
            // id, and removed again) is held back like an added row's: the
            // undo log does not know it, so on the free ids it would be
            // popped by the undo of an older removal. The roll-back cuts it
            // off the store; a commit makes it reusable.
            rows.remove(id, reuse: Int(id) < idLimitBefore)
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
    /// `skipped` is called for each stored row the view leaves out (the
    /// `.old` view's added rows), and stops the scan when it returns false:
    /// the executor counts them as rows scanned, so that a scan that skips
    /// millions still pauses and reads its clock.
    func forEach(_ view: View, columns: [Int], key: [UInt32], skipped: () -> Bool = { true }, _ body: (RowStore, UInt32) -> Bool) {
        switch view {
        case .current:
            rows.forEach(columns: columns, key: key) { body(rows, $0) }
        case .proved:
            let store = proof?.proved ?? rows
            store.forEach(columns: columns, key: key) { body(store, $0) }
        case .old:
            var stopped = false
            rows.forEach(columns: columns, key: key) { id in
                if wasAdded(id) {
                    if skipped() { return true }
                    stopped = true
                    return false
                }
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

    /// Sets a stored row's count (or rank).
    @inline(__always)
    func setCount(_ id: UInt32, _ count: Int32) {
        guard counts[Int(id)] != count else { return }
        keep(id)
        counts[Int(id)] = count
    }

    /// Sets whether a stored row is a fact.
    @inline(__always)
    func setFlag(_ id: UInt32, fact: Bool) {
        guard facts[Int(id)] != fact else { return }
        keep(id)
        facts[Int(id)] = fact
    }

    /// Records the count and flag of row `id` before a change, unless the
    /// transaction added the row (undoing the addition suffices).
    @inline(__always)
    private func keep(_ id: UInt32) {
        if !wasAdded(id) { undoLog.append(.changed(id, count: counts[Int(id)], fact: facts[Int(id)])) }
    }

    private func keepFlags() {
        if flagsBefore == nil { flagsBefore = (countsValid, rankToken) }
    }

    /// Makes `values` a fact (or not) at once, for tables that no rule derives into.
    func setFact(_ values: [UInt32], _ wanted: Bool) {
        if let id = rows.find(values) {
            guard facts[Int(id)] != wanted else { return }
            if wanted || counts[Int(id)] > 0 {
                setFlag(id, fact: wanted)
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
        forgetUndo()
        if !addedList.isEmpty {
            for id in addedList { addedFlags[Int(id)] = false }
            addedList = []
            addedCount = 0
        }
        rows.releaseHeldIDs()
        if rows.isSparse { compact() }
        idLimitBefore = rows.idLimit
        if !removed.isEmpty { removed = RowStore(arity: arity, pausing: pauses) }
        if !pendingFacts.isEmpty {
            pendingFacts = RowStore(arity: arity, pausing: pauses)
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

    /// Puts the rows, counts, fact flags and ids back as they were before the
    /// transaction, by undoing its changes newest first (every index with
    /// them), and ends the transaction's bookkeeping without a new version.
    /// Pauses for the engine's owner as it goes (a stop changes nothing here).
    func undoTransaction(pauses: LongWorkPauses) {
        for id in addedList { addedFlags[Int(id)] = false }
        addedList = []
        addedCount = 0
        // The rows stored at new ids go first: the log replays the changes
        // to the older ids, and a row it stores again may have its key at a
        // new id too (removed, then added again past the end), which the
        // primary index, unique by key, must not hold twice. It did, and
        // undoing the insert at the old id took the new id's bucket.
        for id in idLimitBefore..<rows.idLimit where rows.alive[id] {
            pauses.row()
            for column in 0..<arity { pool.release(rows.cell(UInt32(id), column)) }
        }
        rows.truncate(to: idLimitBefore)
        for change in undoLog.reversed() {
            pauses.row()
            switch change {
            case .added(let id):
                for column in 0..<arity { pool.release(rows.cell(id, column)) }
                rows.undoInsert(id)
            case .removed(let id, let count, let fact, let held):
                let start = undoCells.count - arity
                rows.undoRemove(id, cells: undoCells[start...], held: held)
                for value in undoCells[start...] { pool.hold(value) }
                undoCells.removeLast(arity)
                counts[Int(id)] = count
                facts[Int(id)] = fact
            case .changed(let id, let count, let fact):
                counts[Int(id)] = count
                facts[Int(id)] = fact
            }
        }
        if counts.count > idLimitBefore {
            counts.removeSubrange(idLimitBefore...)
            facts.removeSubrange(idLimitBefore...)
            addedFlags.removeSubrange(idLimitBefore...)
        }
        if let before = flagsBefore {
            countsValid = before.countsValid
            rankToken = before.rankToken
        }
        forgetUndo()
        rows.forgetHeldIDs()
        proof = nil
        if !removed.isEmpty { removed = RowStore(arity: arity, pausing: pauses) }
        if !pendingFacts.isEmpty {
            pendingFacts = RowStore(arity: arity, pausing: pauses)
            pendingFactState = []
        }
    }

    private func forgetUndo() {
        flagsBefore = nil
        idLimitBefore = rows.idLimit
        if undoLog.isEmpty { return }
        // A big transaction's log goes; a small one's keeps its capacity.
        undoLog.removeAll(keepingCapacity: undoLog.count <= 1024)
        undoCells.removeAll(keepingCapacity: undoCells.count <= 1024)
    }

    /// Records that the transaction wants `values` to be a fact (or not).
    func requestFact(_ values: [UInt32], _ wanted: Bool) {
        let (id, _) = pendingFacts.insert(values)
        while pendingFactState.count <= Int(id) { pendingFactState.append(false) }
        pendingFactState[Int(id)] = wanted
    }
}
