@testable import PolicyEngine

/// A term in a hand-built rule: a named variable, a constant, or `_`.
indirect enum Term: Hashable {
    case v(String)
    case c(Value)
    case any
    case add(Term, Term)
}

/// A body literal of a hand-built rule.
enum Literal {
    case pos(String, [Term])
    case neg(String, [Term])
    case cmp(ComparisonOperator, Term, Term)
    case fn(Builtin, [Term], Term)
}

/// Builds `CheckedRule` values without the parser, numbering variables by name.
struct RuleBuilder {
    private var slots: [String: Int] = [:]
    private var names: [String] = []

    static func rule(_ policy: String, _ head: String, _ headTerms: [Term], _ body: [Literal]) -> CheckedRule {
        var builder = RuleBuilder()
        let lowered: [BodyLiteral] = body.map { builder.literal($0) }
        let headArguments = headTerms.map { builder.expression($0) }
        let text = "\(head)(\(headTerms.map(describe).joined(separator: ", "))) :- "
            + body.map(describe).joined(separator: ", ")
        return CheckedRule(
            head: table(head), headArguments: headArguments, body: lowered, variableNames: builder.names,
            policy: policy, text: text, location: SourceLocation(policy: policy, line: 1, column: 1))
    }

    static func table(_ name: String) -> TableID { TableID(name)! }

    private mutating func slot(_ name: String) -> Int {
        if let slot = slots[name] { return slot }
        slots[name] = names.count
        names.append(name)
        return names.count - 1
    }

    private mutating func pattern(_ term: Term) -> Pattern {
        switch term {
        case .v(let name): .variable(slot(name))
        case .c(let value): .constant(value)
        case .any, .add: .wildcard
        }
    }

    private mutating func expression(_ term: Term) -> Expression {
        switch term {
        case .v(let name): .variable(slot(name))
        case .c(let value): .constant(value)
        case .any: .constant(.int(0))
        case .add(let lhs, let rhs): .arithmetic(.add, expression(lhs), expression(rhs))
        }
    }

    private mutating func literal(_ literal: Literal) -> BodyLiteral {
        switch literal {
        case .pos(let name, let terms): .positive(RuleBuilder.table(name), terms.map { pattern($0) })
        case .neg(let name, let terms): .negative(RuleBuilder.table(name), terms.map { pattern($0) })
        case .cmp(let op, let lhs, let rhs): .comparison(op, expression(lhs), expression(rhs))
        case .fn(let builtin, let inputs, let output): .function(builtin, inputs: inputs.map { expression($0) }, output: pattern(output))
        }
    }

    static func describe(_ term: Term) -> String {
        switch term {
        case .v(let name): name
        case .c(let value): value.description
        case .any: "_"
        case .add(let lhs, let rhs): "(\(describe(lhs)) + \(describe(rhs)))"
        }
    }

    static func describe(_ literal: Literal) -> String {
        switch literal {
        case .pos(let name, let terms): "\(name)(\(terms.map(describe).joined(separator: ", ")))"
        case .neg(let name, let terms): "not \(name)(\(terms.map(describe).joined(separator: ", ")))"
        case .cmp(let op, let lhs, let rhs): "\(describe(lhs)) \(op.rawValue) \(describe(rhs))"
        case .fn(let builtin, let inputs, let output):
            "\(builtin.rawValue)(\((inputs + [output]).map(describe).joined(separator: ", ")))"
        }
    }
}

extension Engine {
    /// Applies a transaction built by `body`.
    @discardableResult
    func change(_ body: (inout Transaction) -> Void) throws(PolicyError) -> [TableDelta] {
        var transaction = Transaction()
        body(&transaction)
        return try apply(transaction)
    }

    func rows(_ name: String) -> [[Value]] { rows(of: RuleBuilder.table(name)) }
}

extension Transaction {
    mutating func insert(_ name: String, _ values: Value...) { insert(values, into: RuleBuilder.table(name)) }
    mutating func delete(_ name: String, _ values: Value...) { delete(values, from: RuleBuilder.table(name)) }
}

/// Records the deltas a trigger receives.
final class TriggerLog {
    var deltas: [TableDelta] = []
}

extension Value: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
}
