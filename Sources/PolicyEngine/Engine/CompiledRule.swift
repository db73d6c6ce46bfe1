/// Identifies a rule: its policy and canonical text.
///
/// The text compares by Unicode scalars, as values do: `h(x) :- p(x), x = "\u{E9}"`
/// and the same rule with `"e\u{301}"` are two rules (with `String ==` the
/// second would be taken for the first and dropped).
struct RuleKey: Hashable, Comparable {
    var policy: String
    var text: String

    static func == (lhs: RuleKey, rhs: RuleKey) -> Bool {
        lhs.policy == rhs.policy && lhs.text.hasSameScalars(as: rhs.text)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(policy)
        text.hashScalars(into: &hasher)
    }

    static func < (lhs: RuleKey, rhs: RuleKey) -> Bool {
        lhs.policy != rhs.policy ? lhs.policy < rhs.policy : String.scalarOrder(lhs.text, rhs.text) < 0
    }
}

/// An argument of a table literal, with constants interned.
enum SlotPattern: Hashable {
    case variable(Int)
    case constant(UInt32)
    case wildcard
}

/// An expression with constants interned (their values kept for arithmetic).
indirect enum SlotExpression {
    case variable(Int)
    case constant(UInt32)
    case arithmetic(ArithmeticOperator, SlotExpression, SlotExpression)

    var variables: Set<Int> {
        switch self {
        case .variable(let slot): [slot]
        case .constant: []
        case .arithmetic(_, let lhs, let rhs): lhs.variables.union(rhs.variables)
        }
    }

    /// The slot if the expression is a lone variable.
    var loneVariable: Int? {
        if case .variable(let slot) = self { return slot }
        return nil
    }
}

enum SlotLiteral {
    case positive(TableState, [SlotPattern])
    case negative(TableState, [SlotPattern])
    case function(Builtin, [SlotExpression], SlotPattern)
    case comparison(ComparisonOperator, SlotExpression, SlotExpression)

    var table: TableState? {
        switch self {
        case .positive(let table, _), .negative(let table, _): table
        default: nil
        }
    }

    var isNegative: Bool {
        if case .negative = self { return true }
        return false
    }

    /// Named variables the literal reads or binds.
    var variables: Set<Int> {
        switch self {
        case .positive(_, let patterns), .negative(_, let patterns):
            return Set(patterns.compactMap { if case .variable(let slot) = $0 { slot } else { nil } })
        case .function(_, let inputs, let output):
            var all = inputs.reduce(into: Set<Int>()) { $0.formUnion($1.variables) }
            if case .variable(let slot) = output { all.insert(slot) }
            return all
        case .comparison(_, let lhs, let rhs):
            return lhs.variables.union(rhs.variables)
        }
    }
}

/// A rule lowered onto the engine's tables and interned values, with its join
/// plans (one per seed literal) built on first use.
final class CompiledRule {
    let key: RuleKey
    let rule: CheckedRule
    let head: TableState
    let headArguments: [SlotExpression]
    let literals: [SlotLiteral]
    /// Variable slots: the rule's variables, then one per `_` in a positive literal.
    let slotCount: Int
    /// Cached plans with the table sizes they were made for.
    private var plans: [Int: (flat: FlatPlan, sizes: [Int])] = [:]

    /// Plan key for a full evaluation with nothing bound.
    static let fullPlan = -1
    /// Plan key for an evaluation with the head's plain variables bound.
    static let headBoundPlan = -2

    init(rule: CheckedRule, head: TableState, headArguments: [SlotExpression], literals: [SlotLiteral], slotCount: Int) {
        self.slotCount = slotCount
        self.key = RuleKey(policy: rule.policy, text: rule.text)
        self.rule = rule
        self.head = head
        self.headArguments = headArguments
        self.literals = literals
    }

    /// Every literal reading the same view (made once: the hot loops reuse them).
    private(set) lazy var currentViews = [View](repeating: .current, count: literals.count)
    private(set) lazy var oldViews = [View](repeating: .old, count: literals.count)
    private(set) lazy var provedViews = [View](repeating: .proved, count: literals.count)

    func views(_ view: View) -> [View] {
        switch view {
        case .current: currentViews
        case .old: oldViews
        case .proved: provedViews
        }
    }

    /// The interned constants the rule names, once per mention: what it holds in the pool.
    var constants: [UInt32] {
        var found: [UInt32] = []
        func add(_ pattern: SlotPattern) { if case .constant(let id) = pattern { found.append(id) } }
        func add(_ expression: SlotExpression) {
            switch expression {
            case .variable: break
            case .constant(let id): found.append(id)
            case .arithmetic(_, let lhs, let rhs):
                add(lhs)
                add(rhs)
            }
        }
        headArguments.forEach(add)
        for literal in literals {
            switch literal {
            case .positive(_, let patterns), .negative(_, let patterns): patterns.forEach(add)
            case .function(_, let inputs, let output):
                inputs.forEach(add)
                add(output)
            case .comparison(_, let lhs, let rhs):
                add(lhs)
                add(rhs)
            }
        }
        return found
    }

    /// Body tables, once each.
    var bodyTables: [TableState] {
        var seen = Set<ObjectIdentifier>()
        return literals.compactMap { $0.table }.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    /// The plan for evaluating the body when the literal at `seed` (or nothing,
    /// or the head) has bound its variables first.
    func plan(seed: Int) throws(PolicyError) -> [PlanStep] { try flatPlan(seed: seed).original }

    /// `plan(seed:)` laid out for the executor.
    func flatPlan(seed: Int) throws(PolicyError) -> FlatPlan {
        if let plan = plans[seed], !sizesChanged(since: plan.sizes) { return plan.flat }
        var bound = Set<Int>()
        var skip: Int?
        if seed >= 0 {
            bound = literals[seed].variables
            skip = seed
        } else if seed == CompiledRule.headBoundPlan {
            bound = Set(headArguments.compactMap(\.loneVariable))
        }
        let flat = FlatPlan(try Planner.plan(literals, bound: bound, skip: skip, rule: rule), rule: self)
        plans[seed] = (flat, currentSizes)
        return flat
    }

    private var currentSizes: [Int] { literals.map { $0.table?.rows.count ?? 0 } }

    /// Whether some table grew or shrank enough that the join order may be wrong.
    private func sizesChanged(since sizes: [Int]) -> Bool {
        for (literal, old) in zip(literals, sizes) {
            guard let count = literal.table?.rows.count else { continue }
            if count > old * 2 + 64 || count * 2 + 64 < old { return true }
        }
        return false
    }
}
