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
                for literal in rule.literals {
                    guard case .positive(let body, let patterns) = literal, members.contains(ObjectIdentifier(body)) else {
                        continue
                    }
                    guard let id = body.rows.find(executor.values(of: patterns)), body.counts[Int(id)] < rank,
                        deleted[ObjectIdentifier(body)]?.contains(id) != true
                    else { return true }
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

extension Engine {
    /// Whether the stratum's tables hold ranks computed for exactly this set of tables.
    func ranksValid(_ tables: [TableState], members: Set<ObjectIdentifier>) -> Bool {
        guard let token = tables.first?.rankToken, token.members == members else { return false }
        return tables.allSatisfy { $0.rankToken === token }
    }

    /// The highest rank among the stratum rows of the derivation the executor is
    /// emitting (-1 when it uses none), or nil if one of them is not stored.
    func bodyRank(_ rule: CompiledRule, members: Set<ObjectIdentifier>) -> Int32? {
        var rank: Int32 = -1
        for literal in rule.literals {
            guard case .positive(let body, let patterns) = literal, members.contains(ObjectIdentifier(body)) else { continue }
            guard let id = body.rows.find(executor.values(of: patterns)) else { return nil }
            rank = max(rank, body.counts[Int(id)])
        }
        return rank
    }

    /// The lowest rank `row` can be re-derived with from the stored rows, or nil
    /// when no rule derives it.
    func rederivationRank(_ table: TableState, _ row: [UInt32], members: Set<ObjectIdentifier>) -> Int32? {
        var best: Int32?
        for rule in graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
            executor.run(rule, seed: CompiledRule.headBoundPlan, views: rule.currentViews, seedBind: { bindings in
                Executor.bindHead(rule.headArguments, row: row, into: &bindings)
            }) { head in
                guard head == row, let rank = bodyRank(rule, members: members) else { return true }
                best = min(best ?? Int32.max, rank + 1)
                return best != 0
            }
        }
        return best
    }

    /// Calls `body(head, derived)` for each stratum row derived with `row` in a positive literal.
    func stratumDerivations(
        using table: TableState, _ row: [UInt32], members: Set<ObjectIdentifier>, view: View,
        _ body: (TableState, [UInt32]) -> Void
    ) {
        var heads: [(TableState, [UInt32])] = []
        for use in graph.uses[ObjectIdentifier(table)] ?? [] {
            guard members.contains(ObjectIdentifier(use.rule.head)),
                case .positive(_, let patterns) = use.rule.literals[use.literal]
            else { continue }
            let head = use.rule.head
            executor.run(use.rule, seed: use.literal, views: use.rule.views(view), seedBind: { bindings in
                Executor.bind(patterns, row: row, into: &bindings)
            }) { derived in
                heads.append((head, derived))
                return true
            }
        }
        for (head, derived) in heads { body(head, derived) }
    }

    /// Like `stratumDerivations`, with the highest rank of each derivation's stratum rows.
    func rankedDerivations(
        using table: TableState, _ row: [UInt32], members: Set<ObjectIdentifier>, view: View
    ) -> [(TableState, [UInt32], Int32)] {
        var heads: [(TableState, [UInt32], Int32)] = []
        for use in graph.uses[ObjectIdentifier(table)] ?? [] {
            guard members.contains(ObjectIdentifier(use.rule.head)),
                case .positive(_, let patterns) = use.rule.literals[use.literal]
            else { continue }
            let head = use.rule.head
            executor.run(use.rule, seed: use.literal, views: use.rule.views(view), seedBind: { bindings in
                Executor.bind(patterns, row: row, into: &bindings)
            }) { derived in
                heads.append((head, derived, bodyRank(use.rule, members: members) ?? 0))
                return true
            }
        }
        return heads
    }

    /// Gives every row of a recursive stratum a well-founded rank from scratch,
    /// breadth first: facts and rows derived without stratum rows get 0, and a
    /// row first derived gets one more than the highest rank of its derivation's rows. Costs a full
    /// evaluation of the stratum; needed only when its tables were not ranked
    /// together before (it just became recursive, or strata merged or split).
    func rankStratum(_ tables: [TableState], members: Set<ObjectIdentifier>) {
        for table in tables { table.proof = ProofSets(arity: table.arity) }
        var queue: [(TableState, [UInt32], Int32)] = []
        func settle(_ table: TableState, _ row: [UInt32], _ rank: Int32) {
            guard let id = table.rows.find(row), table.proof!.proved.insert(row).inserted else { return }
            table.counts[Int(id)] = rank
            queue.append((table, row, rank))
        }
        // Rows derived without stratum rows: collected before anything is settled.
        var base: [(TableState, [UInt32])] = []
        for table in tables {
            for rule in graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
                for row in collect(rule, seed: CompiledRule.fullPlan, view: .proved) { base.append((table, row)) }
            }
        }
        for table in tables {
            for id in table.rows.ids where table.isFact(id) { settle(table, table.rows.row(id), 0) }
        }
        for (table, row) in base { settle(table, row, 0) }
        var next = 0
        while next < queue.count {
            let (table, row, rank) = queue[next]
            next += 1
            for (head, derived, bodyRank) in rankedDerivations(using: table, row, members: members, view: .proved) {
                settle(head, derived, max(bodyRank, rank) + 1)
            }
        }
        let token = RankToken(members: members)
        for table in tables {
            table.proof = nil
            table.rankToken = token
        }
    }
}

extension Executor {
    /// The values a table literal's patterns match in the derivation being emitted.
    func values(of patterns: [SlotPattern]) -> [UInt32] {
        patterns.map { pattern in
            switch pattern {
            case .variable(let slot): value(of: slot)
            case .constant(let id): id
            case .wildcard: Executor.unbound  // not produced: positive wildcards have slots
            }
        }
    }
}

extension Engine {
    /// Rows of ranked recursive strata whose rank is not well founded: neither a
    /// fact nor derived from lower-ranked rows. Empty when the invariant that
    /// `RankedDeletion` relies on holds; the property tests check it.
    func rankViolations() -> [String] {
        var violations: [String] = []
        for stratum in graph.strata where stratum.recursive {
            let members = Set(stratum.tables.map(ObjectIdentifier.init))
            guard ranksValid(stratum.tables, members: members) else { continue }
            for table in stratum.tables {
                for id in table.rows.ids where !table.isFact(id) {
                    let row = table.rows.row(id)
                    let rank = table.counts[Int(id)]
                    guard let best = rederivationRank(table, row, members: members), best <= rank else {
                        violations.append("\(table.id)\(row.map { pool[$0] }) has rank \(rank) without a lower-ranked derivation")
                        continue
                    }
                }
            }
        }
        return violations
    }
}
