import Foundation

extension PolicyError.Code {
    /// A rule body has more literals than `Planner.maxBodyLiterals`.
    public static let ruleTooLarge = PolicyError.Code(rawValue: "rule-too-large")
}

/// Where a lookup key's value comes from.
enum KeySource {
    case slot(Int)
    case constant(UInt32)
}

/// One step of a join plan.
enum PlanStep {
    /// Match rows of a positive literal on the key columns; bind new variables;
    /// check variables repeated within the literal.
    case scan(literal: Int, keyColumns: [Int], key: [KeySource], binds: [(column: Int, slot: Int)], checks: [(column: Int, slot: Int)])
    /// Pass when no row of a negated literal matches the key columns.
    case absent(literal: Int, keyColumns: [Int], key: [KeySource])
    /// Evaluate a builtin; bind its output to `bind`, or compare it with the output pattern.
    case function(literal: Int, bind: Int?)
    /// Test a comparison whose sides are bound.
    case compare(literal: Int)
    /// `x = expression` with `x` unbound: bind it.
    case bindEqual(slot: Int, expression: SlotExpression)
}

/// Picks a safe evaluation order for a rule body: filters as soon as their
/// variables are bound, then binders (builtins, `x = e`), then the positive
/// literal with the most bound columns (so that it is an index lookup).
enum Planner {
    /// The most literals a rule body may have. The executor recurses once per
    /// plan step (a few hundred bytes of stack each), so an unbounded body
    /// could exhaust a thread's stack; and planning is cubic in the body's
    /// length (a plan per seed literal), so a 256-literal rule took seconds to
    /// change incrementally. 64 literals plan in milliseconds and need a few
    /// tens of KiB of stack.
    static let maxBodyLiterals = 64

    static func plan(_ literals: [SlotLiteral], bound initial: Set<Int>, skip: Int?, rule: CheckedRule) throws(PolicyError) -> [PlanStep] {
        guard literals.count <= maxBodyLiterals else {
            throw PolicyError(
                .ruleTooLarge,
                "rule for \(rule.head) has \(literals.count) body literals; at most \(maxBodyLiterals) are allowed: split it with intermediate tables",
                at: rule.location)
        }
        var bound = initial
        var remaining = literals.indices.filter { $0 != skip }
        var steps: [PlanStep] = []
        let variables = literals.map(\.variables)
        while !remaining.isEmpty {
            guard let (position, step) = next(literals, variables, remaining, bound) else {
                throw PolicyError(
                    .unsafeVariable, "rule '\(rule.text)' has no safe evaluation order: bind every variable in a positive literal",
                    at: rule.location)
            }
            steps.append(step)
            bound.formUnion(variables[remaining[position]])
            remaining.remove(at: position)
        }
        return steps
    }

    private static func next(
        _ literals: [SlotLiteral], _ variables: [Set<Int>], _ remaining: [Int], _ bound: Set<Int>
    ) -> (Int, PlanStep)? {
        // Filters first.
        for (position, index) in remaining.enumerated() {
            switch literals[index] {
            case .negative(_, let patterns):
                if variables[index].isSubset(of: bound) {
                    let (columns, key) = lookupKey(patterns, bound)
                    return (position, .absent(literal: index, keyColumns: columns, key: key))
                }
            case .comparison:
                if variables[index].isSubset(of: bound) { return (position, .compare(literal: index)) }
            case .function(_, let inputs, let output):
                let inputsBound = inputs.allSatisfy { $0.variables.isSubset(of: bound) }
                if inputsBound, case .variable(let slot) = output, !bound.contains(slot) { continue }
                if inputsBound { return (position, .function(literal: index, bind: nil)) }
            case .positive:
                continue
            }
        }
        // Then binders that cannot multiply rows.
        for (position, index) in remaining.enumerated() {
            switch literals[index] {
            case .function(_, let inputs, let output):
                if inputs.allSatisfy({ $0.variables.isSubset(of: bound) }), case .variable(let slot) = output {
                    return (position, .function(literal: index, bind: slot))
                }
            case .comparison(.equal, let lhs, let rhs):
                if let slot = lhs.loneVariable, !bound.contains(slot), rhs.variables.isSubset(of: bound) {
                    return (position, .bindEqual(slot: slot, expression: rhs))
                }
                if let slot = rhs.loneVariable, !bound.contains(slot), lhs.variables.isSubset(of: bound) {
                    return (position, .bindEqual(slot: slot, expression: lhs))
                }
            default:
                continue
            }
        }
        // Then the positive literal expected to match the fewest rows: a table of
        // n rows with k of its a columns bound matches about n^((a-k)/a).
        var best: (position: Int, cost: Double)?
        for (position, index) in remaining.enumerated() {
            guard case .positive(let table, let patterns) = literals[index] else { continue }
            let boundColumns = patterns.count { pattern in
                switch pattern {
                case .constant: true
                case .variable(let slot): bound.contains(slot)
                case .wildcard: false
                }
            }
            let free = Double(patterns.count - boundColumns) / Double(max(patterns.count, 1))
            let cost = boundColumns == patterns.count ? 0 : pow(Double(table.rows.count + 2), free) - Double(boundColumns) * 1e-3
            if best == nil || cost < best!.cost { best = (position, cost) }
        }
        guard let best, case .positive(_, let patterns) = literals[remaining[best.position]] else { return nil }
        return (best.position, scan(remaining[best.position], patterns, bound))
    }

    static func lookupKey(_ patterns: [SlotPattern], _ bound: Set<Int>) -> ([Int], [KeySource]) {
        var columns: [Int] = []
        var key: [KeySource] = []
        for (column, pattern) in patterns.enumerated() {
            switch pattern {
            case .constant(let id):
                columns.append(column)
                key.append(.constant(id))
            case .variable(let slot) where bound.contains(slot):
                columns.append(column)
                key.append(.slot(slot))
            default:
                continue
            }
        }
        return (columns, key)
    }

    static func scan(_ literal: Int, _ patterns: [SlotPattern], _ bound: Set<Int>) -> PlanStep {
        let (columns, key) = lookupKey(patterns, bound)
        var binds: [(column: Int, slot: Int)] = []
        var checks: [(column: Int, slot: Int)] = []
        var newlyBound = Set<Int>()
        for (column, pattern) in patterns.enumerated() {
            guard case .variable(let slot) = pattern, !bound.contains(slot) else { continue }
            if newlyBound.insert(slot).inserted {
                binds.append((column, slot))
            } else {
                checks.append((column, slot))
            }
        }
        return .scan(literal: literal, keyColumns: columns, key: key, binds: binds, checks: checks)
    }
}
