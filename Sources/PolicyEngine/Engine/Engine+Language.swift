/// Front-end state kept between transactions (filled in when the parser lands).
struct FrontEndState {}

extension Engine {
    /// Parses and checks the transaction's text operations.
    func lower(_ transaction: Transaction) throws(PolicyError) -> LoweredTransaction {
        var lowered = LoweredTransaction()
        var ruleSet = Set(rulesByKey.keys)
        var addedRules: [RuleKey: CheckedRule] = [:]
        for operation in transaction.operations {
            switch operation {
            case .insertRow(let table, let row): lowered.rowOperations.append(.insert(table, row))
            case .deleteRow(let table, let row): lowered.rowOperations.append(.delete(table, row))
            case .replace(let table, let rows): lowered.rowOperations.append(.replace(table, rows))
            case .insertRule(let rule):
                let key = RuleKey(policy: rule.policy, text: rule.text)
                if ruleSet.insert(key).inserted { addedRules[key] = rule }
            case .deleteRule(let key):
                guard ruleSet.remove(key) != nil else {
                    throw PolicyError(.unknownRule, "policy '\(key.policy)' has no rule '\(key.text)'")
                }
                addedRules[key] = nil
            case .insertRules, .deleteRules:
                throw PolicyError(.syntaxError, "policy text is not supported yet")
            }
        }
        let before = Set(rulesByKey.keys)
        lowered.addedRules = addedRules.values.filter { !before.contains(RuleKey(policy: $0.policy, text: $0.text)) }
        lowered.removedRules = Array(before.subtracting(ruleSet))
        return lowered
    }
}
