/// The deletion half of the backward/forward algorithm for one recursive stratum.
///
/// The stratum's tables still hold the old rows; each has `proof` sets. A row is
/// *proved* when some rule instance derives it from facts, lower strata (new
/// state) and proved rows: proved rows stay. A candidate that is not proved after
/// a backward search is marked deleted, and the rows it helped derive become
/// candidates in turn. A row marked deleted may still be proved later (through a
/// cycle that closes afterwards); rows deleted and never proved are removed.
///
/// Soundness: proofs only use facts, the new state of lower strata, and rows
/// already proved. Completeness: every row of an instance examined by the
/// search is examined too, so the last of a valid instance's rows to be proved
/// proves its head by forward saturation.
struct ProofSearch {
    let engine: Engine
    let members: Set<ObjectIdentifier>

    private struct Frame {
        var instances: [[(TableState, [UInt32])]]
        var table: TableState
        var row: [UInt32]
        var instance = 0
        var position = 0
    }

    init(engine: Engine, members: Set<ObjectIdentifier>) {
        self.engine = engine
        self.members = members
    }

    mutating func deleteUnprovable(_ seeds: [(TableState, [UInt32])]) {
        var candidates = seeds
        while let (table, row) = candidates.popLast() {
            // Each step runs joins whose builtins the executor's clock does not count.
            engine.pauses.row()
            guard let proof = table.proof, table.rows.find(row) != nil,
                proof.deleted.find(row) == nil, proof.proved.find(row) == nil
            else { continue }
            check(table, row)
            if proof.proved.find(row) != nil { continue }
            proof.deleted.insert(row)
            for (head, derived) in consequences(of: table, row) {
                guard let headProof = head.proof, head.rows.find(derived) != nil,
                    headProof.deleted.find(derived) == nil, headProof.proved.find(derived) == nil
                else { continue }
                candidates.append((head, derived))
            }
        }
    }

    // MARK: - Backward search

    /// Examines `row`: proves it if an instance's stratum rows are all proved,
    /// otherwise examines those rows (depth first, with an explicit stack).
    private func check(_ table: TableState, _ row: [UInt32]) {
        var stack: [Frame] = []
        if let frame = enter(table, row) { stack.append(frame) }
        while !stack.isEmpty {
            engine.pauses.row()
            let top = stack.count - 1
            if stack[top].table.proof!.proved.find(stack[top].row) != nil {
                stack.removeLast()
                continue
            }
            var next: (TableState, [UInt32])?
            while next == nil && stack[top].instance < stack[top].instances.count {
                let instance = stack[top].instances[stack[top].instance]
                if stack[top].position < instance.count {
                    let (bodyTable, bodyRow) = instance[stack[top].position]
                    stack[top].position += 1
                    let proof = bodyTable.proof!
                    if proof.checked.find(bodyRow) == nil && proof.proved.find(bodyRow) == nil { next = (bodyTable, bodyRow) }
                } else {
                    stack[top].instance += 1
                    stack[top].position = 0
                }
            }
            guard let (childTable, childRow) = next else {
                stack.removeLast()
                continue
            }
            if let frame = enter(childTable, childRow) { stack.append(frame) }
        }
    }

    /// Marks a row examined; proves it at once when it can. Returns a frame when
    /// its instances' rows need examining.
    private func enter(_ table: TableState, _ row: [UInt32]) -> Frame? {
        let proof = table.proof!
        guard proof.checked.find(row) == nil else { return nil }
        proof.checked.insert(row)
        if let id = table.rows.find(row), table.isFact(id) {
            prove(table, row)
            return nil
        }
        let instances = self.instances(of: table, row)
        for instance in instances where instance.allSatisfy({ $0.0.proof!.proved.find($0.1) != nil }) {
            prove(table, row)
            return nil
        }
        return Frame(instances: instances, table: table, row: row)
    }

    /// The stratum rows of every rule instance that derives `row` from the
    /// stored rows of the stratum and the new state of lower strata.
    private func instances(of table: TableState, _ row: [UInt32]) -> [[(TableState, [UInt32])]] {
        var result: [[(TableState, [UInt32])]] = []
        let executor = engine.executor
        for rule in engine.graph.rulesByHead[ObjectIdentifier(table)] ?? [] {
            let views = rule.currentViews
            executor.run(rule, seed: CompiledRule.headBoundPlan, views: views, seedBind: { bindings in
                Executor.bindHead(rule.headArguments, row: row, into: &bindings)
            }) { head in
                guard head == row else { return true }
                var body: [(TableState, [UInt32])] = []
                for literal in rule.literals {
                    guard case .positive(let bodyTable, let patterns) = literal, members.contains(ObjectIdentifier(bodyTable)) else {
                        continue
                    }
                    body.append((bodyTable, patterns.map { pattern in
                        switch pattern {
                        case .variable(let slot): executor.value(of: slot)
                        case .constant(let id): id
                        case .wildcard: Executor.unbound  // not produced: positive wildcards have slots
                        }
                    }))
                }
                result.append(body)
                return true
            }
        }
        return result
    }

    // MARK: - Forward saturation

    /// Proves `row`, then every examined row that this lets some instance prove.
    private func prove(_ table: TableState, _ row: [UInt32]) {
        table.proof!.proved.insert(row)
        var work = [(table, row)]
        while let (provedTable, provedRow) = work.popLast() {
            engine.pauses.row()
            for (head, derived) in derivations(using: provedTable, provedRow, view: .proved) {
                guard let proof = head.proof, proof.checked.find(derived) != nil, proof.proved.find(derived) == nil else { continue }
                proof.proved.insert(derived)
                work.append((head, derived))
            }
        }
    }

    /// Rows of the stratum that `row` helps derive (reading the stored rows).
    private func consequences(of table: TableState, _ row: [UInt32]) -> [(TableState, [UInt32])] {
        derivations(using: table, row, view: .current)
    }

    /// Heads of the stratum's rules derived with `row` in a positive literal.
    private func derivations(using table: TableState, _ row: [UInt32], view: View) -> [(TableState, [UInt32])] {
        var heads: [(TableState, [UInt32])] = []
        for use in engine.graph.uses[ObjectIdentifier(table)] ?? [] {
            guard members.contains(ObjectIdentifier(use.rule.head)),
                case .positive(_, let patterns) = use.rule.literals[use.literal]
            else { continue }
            let views = use.rule.views(view)
            let head = use.rule.head
            engine.executor.run(use.rule, seed: use.literal, views: views, seedBind: { bindings in
                Executor.bind(patterns, row: row, into: &bindings)
            }) { derived in
                heads.append((head, derived))
                return true
            }
        }
        return heads
    }
}
