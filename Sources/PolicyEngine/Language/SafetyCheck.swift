/// Checks that some order of a rule's body binds every variable before it is read.
///
/// Binding only grows, so applying every step that can run until nothing
/// changes finds such an order whenever one exists.
struct SafetyCheck {
    let steps: [SafetyStep]
    let head: [VariableUse]

    func errors() -> [PolicyError] {
        var bound: Set<Int> = []
        var pending = steps
        var progressed = true
        while progressed {
            progressed = false
            pending.removeAll { step in
                guard let binds = SafetyCheck.run(step, bound: bound) else { return false }
                bound.formUnion(binds)
                progressed = true
                return true
            }
        }
        var errors: [PolicyError] = []
        for use in head where !bound.contains(use.slot) {
            errors.append(
                PolicyError(
                    .unsafeVariable,
                    "head variable '\(use.name ?? "_")' is not bound by the body; use it in a positive literal such as 'q(\(use.name ?? "x"))'",
                    at: use.location))
        }
        for step in pending {
            for use in SafetyCheck.reads(step) where !bound.contains(use.slot) {
                guard let name = use.name else { continue }
                let message: String
                if case .negated = step {
                    message = "variable '\(name)' in a negated literal must also appear in a positive literal of the body"
                } else {
                    message = "variable '\(name)' is read by a comparison, builtin or arithmetic but never bound; use it in a positive literal of the body"
                }
                errors.append(PolicyError(.unsafeVariable, message, at: use.location))
            }
        }
        return errors
    }

    /// The slots the step binds, or `nil` if it cannot run yet.
    private static func run(_ step: SafetyStep, bound: Set<Int>) -> Set<Int>? {
        switch step {
        case .binds(let slots):
            return slots
        case .needs(let uses), .negated(let uses):
            return uses.allSatisfy { bound.contains($0.slot) } ? [] : nil
        case .function(let inputs, let output):
            guard inputs.allSatisfy({ bound.contains($0.slot) }) else { return nil }
            return output.map { [$0] } ?? []
        case .equality(let left, let right):
            let leftBound = isBound(left, bound)
            let rightBound = isBound(right, bound)
            if leftBound && rightBound { return [] }
            if leftBound, let lone = right.lone { return [lone] }
            if rightBound, let lone = left.lone { return [lone] }
            return nil
        }
    }

    private static func isBound(_ side: EqualitySide, _ bound: Set<Int>) -> Bool {
        side.variables.allSatisfy { bound.contains($0.slot) } && side.lone.map(bound.contains) != false
    }

    private static func reads(_ step: SafetyStep) -> [VariableUse] {
        switch step {
        case .binds: []
        case .needs(let uses), .negated(let uses): uses
        case .function(let inputs, _): inputs
        case .equality(let left, let right): left.variables + right.variables
        }
    }
}
