@testable import PolicyEngine

/// A from-scratch, obviously correct (and slow) evaluator to check the engine against:
/// stratify by relaxation, then for each stratum apply every rule naively to the
/// whole database until nothing changes.
struct ReferenceEvaluator {
    var rules: [CheckedRule]
    /// Facts per table.
    var facts: [TableID: Set<[Value]>]

    func evaluate() -> [TableID: Set<[Value]>] {
        var database = facts
        for stratum in strata() {
            var changed = true
            while changed {
                changed = false
                for rule in stratum {
                    for row in derive(rule, database) where database[rule.head, default: []].insert(row).inserted {
                        changed = true
                    }
                }
            }
        }
        return database
    }

    /// Rules grouped by stratum: a head's stratum is at least each positive body
    /// table's, and above each negated one's.
    private func strata() -> [[CheckedRule]] {
        var level: [TableID: Int] = [:]
        var changed = true
        while changed {
            changed = false
            for rule in rules {
                var wanted = level[rule.head, default: 0]
                for literal in rule.body {
                    switch literal {
                    case .positive(let table, _): wanted = max(wanted, level[table, default: 0])
                    case .negative(let table, _): wanted = max(wanted, level[table, default: 0] + 1)
                    default: break
                    }
                }
                if wanted != level[rule.head, default: 0] {
                    precondition(wanted < 100, "unstratified program in the reference evaluator")
                    level[rule.head] = wanted
                    changed = true
                }
            }
        }
        let top = rules.map { level[$0.head, default: 0] }.max() ?? 0
        return (0...top).map { stratum in rules.filter { level[$0.head, default: 0] == stratum } }
    }

    private func derive(_ rule: CheckedRule, _ database: [TableID: Set<[Value]>]) -> [[Value]] {
        var results: [[Value]] = []
        var bindings = [Value?](repeating: nil, count: rule.variableCount)
        solve(rule, Array(rule.body.indices), &bindings, database) { bindings in
            var row: [Value] = []
            for argument in rule.headArguments {
                guard let value = evaluate(argument, bindings) else { return }
                row.append(value)
            }
            results.append(row)
        }
        return results
    }

    /// Evaluates the first remaining literal that can run (in source order).
    private func solve(
        _ rule: CheckedRule, _ remaining: [Int], _ bindings: inout [Value?], _ database: [TableID: Set<[Value]>],
        _ emit: ([Value?]) -> Void
    ) {
        guard !remaining.isEmpty else {
            emit(bindings)
            return
        }
        guard let position = remaining.firstIndex(where: { canRun(rule.body[$0], bindings) }) else { return }
        var rest = remaining
        rest.remove(at: position)
        switch rule.body[remaining[position]] {
        case .positive(let table, let patterns):
            for row in database[table, default: []] {
                var extended = bindings
                if match(patterns, row, &extended) { solve(rule, rest, &extended, database, emit) }
            }
        case .negative(let table, let patterns):
            let matched = database[table, default: []].contains { row in
                var scratch = bindings
                return match(patterns, row, &scratch)
            }
            if !matched { solve(rule, rest, &bindings, database, emit) }
        case .function(let builtin, let inputs, let output):
            var values: [Value] = []
            for input in inputs {
                guard let value = evaluate(input, bindings) else { return }
                values.append(value)
            }
            guard let result = BuiltinEvaluation.call(builtin, values) else { return }
            var extended = bindings
            switch output {
            case .wildcard: break
            case .constant(let value): guard BuiltinEvaluation.compare(.equal, result, value) else { return }
            case .variable(let slot):
                if let bound = extended[slot] {
                    guard BuiltinEvaluation.compare(.equal, result, bound) else { return }
                } else {
                    extended[slot] = result
                }
            }
            solve(rule, rest, &extended, database, emit)
        case .comparison(let op, let lhs, let rhs):
            var extended = bindings
            if op == .equal, case .variable(let slot) = lhs, extended[slot] == nil {
                guard let value = evaluate(rhs, bindings) else { return }
                extended[slot] = value
            } else if op == .equal, case .variable(let slot) = rhs, extended[slot] == nil {
                guard let value = evaluate(lhs, bindings) else { return }
                extended[slot] = value
            } else {
                guard let left = evaluate(lhs, bindings), let right = evaluate(rhs, bindings),
                    BuiltinEvaluation.compare(op, left, right)
                else { return }
            }
            solve(rule, rest, &extended, database, emit)
        }
    }

    private func canRun(_ literal: BodyLiteral, _ bindings: [Value?]) -> Bool {
        func bound(_ expression: Expression) -> Bool {
            switch expression {
            case .variable(let slot): bindings[slot] != nil
            case .constant: true
            case .arithmetic(_, let lhs, let rhs): bound(lhs) && bound(rhs)
            }
        }
        switch literal {
        case .positive: return true
        case .negative(_, let patterns):
            return patterns.allSatisfy { if case .variable(let slot) = $0 { bindings[slot] != nil } else { true } }
        case .function(_, let inputs, _): return inputs.allSatisfy(bound)
        case .comparison(let op, let lhs, let rhs):
            if bound(lhs) && bound(rhs) { return true }
            guard op == .equal else { return false }
            if case .variable = lhs, bound(rhs) { return true }
            if case .variable = rhs, bound(lhs) { return true }
            return false
        }
    }

    private func match(_ patterns: [Pattern], _ row: [Value], _ bindings: inout [Value?]) -> Bool {
        for (pattern, value) in zip(patterns, row) {
            switch pattern {
            case .wildcard: continue
            case .constant(let constant): if constant != value { return false }
            case .variable(let slot):
                if let bound = bindings[slot] {
                    if bound != value { return false }
                } else {
                    bindings[slot] = value
                }
            }
        }
        return true
    }

    private func evaluate(_ expression: Expression, _ bindings: [Value?]) -> Value? {
        switch expression {
        case .variable(let slot): return bindings[slot]
        case .constant(let value): return value
        case .arithmetic(let op, let lhs, let rhs):
            guard let left = evaluate(lhs, bindings), let right = evaluate(rhs, bindings) else { return nil }
            return BuiltinEvaluation.arithmetic(op, left, right)
        }
    }
}
