// MARK: - Canonical text

// The canonical text is one line: single spaces after commas and around `:-`
// and infix operators, `not` for every negation, no terminator, the minimum of
// parentheses, and the rule's own policy left off its table names. Reading it
// back gives the same rule.

extension RuleSyntax {
    var canonicalText: String {
        let head = head.text(in: policy)
        if body.isEmpty { return head }
        return head + " :- " + body.map { $0.text(in: policy) }.joined(separator: ", ")
    }
}

extension AtomSyntax {
    func text(in policy: String) -> String {
        var name = name
        if let service, service != policy || BuiltinName.isBuiltin(self.name) {
            name = service + ":" + name
        }
        if arguments.isEmpty { return name }
        return name + "(" + arguments.map(\.text).joined(separator: ", ") + ")"
    }
}

extension ArgumentSyntax {
    var text: String {
        guard let column else { return term.text }
        return column + "=" + term.text
    }
}

extension LiteralSyntax {
    func text(in policy: String) -> String {
        switch self {
        case .positive(let atom): atom.text(in: policy)
        case .negative(let atom, _): "not " + atom.text(in: policy)
        case .comparison(let op, let left, let right, _): left.text + " " + op.rawValue + " " + right.text
        }
    }
}

extension TermSyntax {
    /// The term as written, with only the parentheses the tree needs.
    public var text: String {
        switch self {
        case .variable(let name, _): return name
        case .anonymous: return "_"
        case .constant(let value, _): return value.description
        case .arithmetic(let op, let left, let right, _):
            let leftText = left.precedence < op.precedence ? "(" + left.text + ")" : left.text
            let rightText = right.precedence <= op.precedence ? "(" + right.text + ")" : right.text
            return leftText + " " + op.rawValue + " " + rightText
        }
    }

    private var precedence: Int {
        if case .arithmetic(let op, _, _, _) = self { return op.precedence }
        return 3
    }
}

extension ArithmeticOperator {
    var precedence: Int {
        switch self {
        case .add, .subtract: 1
        case .multiply, .divide: 2
        }
    }
}

extension QuerySyntax {
    /// The query in canonical form, always qualified: `alice:error(x)`.
    public var text: String {
        guard let arguments else { return table.description }
        return table.description + "(" + arguments.map(\.text).joined(separator: ", ") + ")"
    }
}

/// The names of builtins as they may be written bare or as `builtin:name`.
enum BuiltinName {
    static let service = "builtin"

    static let comparisons: [String: ComparisonOperator] = [
        "lt": .less, "lteq": .lessOrEqual, "gt": .greater, "gteq": .greaterOrEqual, "equal": .equal,
    ]

    static func isBuiltin(_ name: String) -> Bool {
        comparisons[name] != nil || Builtin(rawValue: name) != nil
    }
}
