/// Marks the tables of a recursive stratum whose row ranks are valid together.
///
/// A row's *rank* (kept in `TableState.counts`, which recursive tables do not
/// otherwise use) is well founded: a fact may have any rank, and every other row
/// has a derivation whose stratum body rows all have a strictly lower rank.
/// Ranks are only meaningful relative to one set of stratum tables, so a token
/// records that set; when the strata are rebuilt differently, ranks are recomputed.
final class RankToken {
    let members: Set<ObjectIdentifier>

    init(members: Set<ObjectIdentifier>) { self.members = members }
}

/// The deletion phase of a recursive stratum whose ranks are valid.
///
/// Candidates (rows that lost a derivation) are examined in increasing rank. A
/// candidate stays when it is a fact or still has a derivation whose stratum
/// body rows all have a lower rank and are not deleted: by the time a rank is
/// examined, every lower-ranked row that will be deleted has been, so that
/// check is final and the kept row's rank stays well founded. Otherwise the row
/// is deleted, and the rows it helps derive with a higher rank become
/// candidates. Rows of lower or equal rank never needed it for their ranked
/// derivation. Deleted rows are then re-derived from the survivors by the
/// caller (delete and re-derive, but the deleted set is only the rows that lost
/// every lower-ranked derivation, not everything downstream of a change).
struct RankedDeletion {
    let engine: Engine
    let members: Set<ObjectIdentifier>
    private var decided: [ObjectIdentifier: Set<UInt32>] = [:]
    private var deleted: [ObjectIdentifier: Set<UInt32>] = [:]
    private var queue = RankQueue()

    init(engine: Engine, members: Set<ObjectIdentifier>) {
        self.engine = engine
        self.members = members
    }

    /// Finds the rows that lose every ranked derivation (they stay stored; the
    /// caller removes them). Returns them as values.
    mutating func unsupportedRows(_ seeds: [(TableState, [UInt32])]) -> [(TableState, [UInt32])] {
        for (table, row) in seeds {
            guard let id = table.rows.find(row) else { continue }
            queue.push(rank: table.counts[Int(id)], table: table, id: id)
        }
        var result: [(TableState, [UInt32])] = []
        while let (rank, table, id) = queue.pop() {
            // Each step runs joins whose builtins the executor's clock does not count.
            engine.pauses.row()
            let key = ObjectIdentifier(table)
            guard decided[key, default: []].insert(id).inserted else { continue }
            if table.isFact(id) { continue }
            let row = table.rows.row(id)
            if hasRankedDerivation(table, row, rank: rank) { continue }
            deleted[key, default: []].insert(id)
            result.append((table, row))
            engine.stratumDerivations(using: table, row, members: members, view: .current) { head, derived in
                guard let headID = head.rows.find(derived) else { return }
                let headRank = head.counts[Int(headID)]
                guard headRank > rank, decided[ObjectIdentifier(head)]?.contains(headID) != true else { return }
                queue.push(rank: headRank, table: head, id: headID)
            }
        }
        return result
    }

    /// Whether some rule derives `row` from rows of lower rank that are not deleted.
    private func hasRankedDerivation(_ table: TableState, _ row: [UInt32], rank: Int32) -> Bool {
        let executor = engine.executor
        var found = false
        for rule in engine.graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
            executor.run(rule, seed: CompiledRule.headBoundPlan, views: rule.currentViews, seedBind: { bindings in
                Executor.bindHead(rule.headArguments, row: row, into: &bindings)
            }) { head in
                guard head == row else { return true }
                // Every positive literal was scanned in the current view (no
                // seed literal), so the matched ids are the body rows' ids.
                for (position, literal) in rule.literals.enumerated() {
                    guard case .positive(let body, _) = literal, members.contains(ObjectIdentifier(body)) else { continue }
                    let id = executor.matchedRow(position)
                    guard body.counts[Int(id)] < rank, deleted[ObjectIdentifier(body)]?.contains(id) != true else { return true }
                }
                found = true
                return false
            }
            if found { return true }
        }
        return false
    }
}

/// A binary min-heap of stored rows by rank.
struct RankQueue {
    private var items: [(rank: Int32, table: TableState, id: UInt32)] = []

    mutating func push(rank: Int32, table: TableState, id: UInt32) {
        items.append((rank, table, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].rank < items[parent].rank else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Int32, TableState, UInt32)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = parent * 2 + 1
                guard left < items.count else { break }
                var smallest = left
                if left + 1 < items.count && items[left + 1].rank < items[left].rank { smallest = left + 1 }
                guard items[smallest].rank < items[parent].rank else { break }
                items.swapAt(smallest, parent)
                parent = smallest
            }
        }
        return (first.rank, first.table, first.id)
    }
}
