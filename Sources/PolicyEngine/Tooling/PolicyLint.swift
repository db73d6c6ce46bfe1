/// Finds the warnings of one parsed policy (see `PolicyWarning`).
///
/// Run it on a policy without errors: an unsafe variable is also used once,
/// and the error says more than the warning would.
public enum PolicyLint {
    /// The policy's warnings, in line and column order.
    public static func warnings(_ policy: ParsedPolicy, name: String) -> [Diagnostic] {
        var defined = Set(policy.facts.map(\.table))
        for rule in policy.rules { defined.insert(TableID(service: name, name: rule.head.name)) }
        var warnings: [Diagnostic] = []
        for rule in policy.rules {
            warnings += undefinedTables(rule, defined: defined)
            warnings += singleUseVariables(rule)
            warnings += impossibleComparisons(rule)
        }
        return warnings.sorted(by: Diagnostic.isEarlier)
    }

    private static func warning(_ code: String, _ message: String, at location: SourceLocation) -> Diagnostic {
        Diagnostic(severity: .warning, code: code, message: message, location: location)
    }

    // MARK: - Undefined tables

    private static func undefinedTables(_ rule: RuleSyntax, defined: Set<TableID>) -> [Diagnostic] {
        var result: [Diagnostic] = []
        for literal in rule.body {
            let atom: AtomSyntax
            switch literal {
            case .positive(let positive): atom = positive
            case .negative(let negative, _): atom = negative
            case .comparison: continue
            }
            // A bare builtin name is the builtin unless the policy defines the table.
            guard atom.service == nil, !BuiltinName.isBuiltin(atom.name) else { continue }
            let table = TableID(service: rule.policy, name: atom.name)
            guard !defined.contains(table) else { continue }
            result.append(
                warning(
                    PolicyWarning.undefinedTable,
                    "\(atom.name) is read here but policy \(rule.policy) never defines it, so it is always empty; "
                        + "define it, or qualify it with the data source that publishes it (e.g. 'nova:\(atom.name)')",
                    at: atom.location))
        }
        return result
    }

    // MARK: - Variables used once

    private static func singleUseVariables(_ rule: RuleSyntax) -> [Diagnostic] {
        var occurrences: [String: [SourceLocation]] = [:]
        func visit(_ term: TermSyntax) {
            switch term {
            case .variable(let name, let location): occurrences[name, default: []].append(location)
            case .anonymous, .constant: break
            case .arithmetic(_, let left, let right, _):
                visit(left)
                visit(right)
            }
        }
        for argument in rule.head.arguments { visit(argument.term) }
        for literal in rule.body {
            switch literal {
            case .positive(let atom), .negative(let atom, _): for argument in atom.arguments { visit(argument.term) }
            case .comparison(_, let left, let right, _):
                visit(left)
                visit(right)
            }
        }
        // Names starting with `_` say "unused on purpose", as in Prolog.
        return occurrences.filter { $0.value.count == 1 && !$0.key.hasPrefix("_") }.map { name, locations in
            warning(
                PolicyWarning.singleUseVariable,
                "variable \(name) is used only once in this rule; write '_' if any value will do, or check the spelling",
                at: locations[0])
        }
    }

    // MARK: - Comparisons that are always false

    private static func impossibleComparisons(_ rule: RuleSyntax) -> [Diagnostic] {
        var result: [Diagnostic] = []
        for literal in rule.body {
            guard case .comparison(let op, .constant(let left, _), .constant(let right, _), let location) = literal,
                let holds = holds(op, left, right), !holds
            else { continue }
            result.append(
                warning(
                    PolicyWarning.ruleNeverFires,
                    "\(left) \(op.rawValue) \(right) is always false, so this rule never derives a row",
                    at: location))
        }
        return result
    }

    /// The comparison's result, exactly as the engine finds it; nil for
    /// ordering a string against a number (a type error, not a rule that
    /// never fires).
    private static func holds(_ op: ComparisonOperator, _ left: Value, _ right: Value) -> Bool? {
        switch (op, left, right) {
        case (.equal, _, _), (.notEqual, _, _), (_, .string, .string): break
        case (_, .string, _), (_, _, .string): return nil
        default: break
        }
        return BuiltinEvaluation.compare(op, left, right)
    }
}
