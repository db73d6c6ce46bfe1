import PolicyEngine

/// `simulate`: what a change would do, with the engine left as it was.
extension EngineBehavior {
    /// Each of `tables`' net delta from `changes` as one transaction. Nothing
    /// is logged or published, and no seq moves: the engine applies the
    /// change and its inverse with its triggers held (`Engine.simulate`). The
    /// work is bounded by the request budget (`too-expensive`), as a real
    /// change is, and its time also by `--max-request-ms`: a question holds the loop less long than a change may.
    ///
    /// Facts may go into the tables of the engine's policies, and also into
    /// the peers' tables its rules read (the question is often "what if this
    /// server appeared"); a remote table the engine does not read yet is empty.
    /// - Throws: `unknown-table` for an asked table of no policy that the
    ///   engine does not know, or facts for one; `unknown-policy`; the
    ///   language's codes; `too-expensive`.
    func simulate(_ changes: [ControlCommand.Change], tables: [TableID]) throws(BusError) -> [TableDelta] {
        for table in tables where !engine.policies.contains(table.service) && !engine.contains(table) {
            throw BusError(.unknownTable, "engine \(context.name) has no policy '\(table.service)' and does not read \(table)")
        }
        var transaction = Transaction()
        // A hundred thousand rows take tens of milliseconds to turn into operations.
        var pauses = PausePoints(engine.pause)
        for change in changes {
            pauses.tick()
            switch change {
            case .rules(.insert(let policy, let text)), .rules(.delete(let policy, let text)):
                guard engine.policies.contains(policy) else {
                    throw BusError(.unknownPolicy, "there is no policy '\(policy)' at engine \(context.name)")
                }
                if case .rules(.insert) = change {
                    transaction.insertRules(text, policy: policy)
                } else {
                    transaction.deleteRules(text, policy: policy)
                }
            case .rules(.list):
                throw BusError(.badRequest, "a rules change inserts or deletes rules")
            case .facts(let facts):
                guard engine.policies.contains(facts.table.service) || engine.remoteTables.contains(facts.table) else {
                    throw BusError(
                        .unknownTable, "\(facts.table) is neither a table of a policy of engine \(context.name) nor one its rules read")
                }
                transaction.add(facts, pausing: &pauses)
            }
        }
        do {
            var budget = context.limits.transactionBudget
            budget.milliseconds = min(budget.milliseconds, context.limits.maxRequestMilliseconds)
            return try engine.simulate(transaction, tables: tables, budget: budget)
        } catch {
            throw BusError(error)
        }
    }
}
