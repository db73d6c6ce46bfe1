/// The checked, lowered form of a rule: what the front end hands the engine.
///
/// Every table is qualified, every variable is a numbered slot, and the rule is
/// known to be safe (some order of its body literals binds every variable before
/// it is read) and stratified. The engine chooses the evaluation order itself.
public struct CheckedRule: Hashable, Sendable {
    /// The table the rule derives into.
    public var head: TableID
    /// One expression per head column, over variables the body binds.
    public var headArguments: [Expression]
    /// The body literals, in source order.
    public var body: [BodyLiteral]
    /// Slot index to the variable's source name (fresh variables made by
    /// lowering get names that cannot clash, such as `_1`).
    public var variableNames: [String]
    /// The policy the rule belongs to.
    public var policy: String
    /// The rule's canonical text, as `rules list` prints it. Two rules with the
    /// same canonical text are the same rule.
    public var text: String
    public var location: SourceLocation

    public init(
        head: TableID, headArguments: [Expression], body: [BodyLiteral], variableNames: [String],
        policy: String, text: String, location: SourceLocation
    ) {
        self.head = head
        self.headArguments = headArguments
        self.body = body
        self.variableNames = variableNames
        self.policy = policy
        self.text = text
        self.location = location
    }

    public var variableCount: Int { variableNames.count }
}

/// A literal in a rule body.
public enum BodyLiteral: Hashable, Sendable {
    /// `table(args)`: matches rows and binds the pattern's unbound variables.
    case positive(TableID, [Pattern])
    /// `not table(args)`: true when no row matches. Its named variables are bound
    /// elsewhere in the body; `.wildcard` means "any value".
    case negative(TableID, [Pattern])
    /// A builtin with a result, such as `plus(x, y, z)` or `concat(a, b, c)`:
    /// the inputs are evaluated, and the output binds an unbound variable or
    /// must equal a bound one. A type error (or division by zero) yields no row.
    case function(Builtin, inputs: [Expression], output: Pattern)
    /// A test such as `x < y` or `lt(x, y)`. For `.equal`, when exactly one
    /// side is a lone variable that is still unbound, it is bound to the other
    /// side's value instead (`x = y + 1`).
    case comparison(ComparisonOperator, Expression, Expression)
}

/// An argument of a table literal in a body.
public enum Pattern: Hashable, Sendable {
    case variable(Int)
    case constant(Value)
    /// `_`, or a column a named-column literal did not mention.
    case wildcard
}

/// An expression over a rule's variables.
public indirect enum Expression: Hashable, Sendable {
    case variable(Int)
    case constant(Value)
    case arithmetic(ArithmeticOperator, Expression, Expression)
}

public enum ArithmeticOperator: String, Hashable, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
}

public enum ComparisonOperator: String, Hashable, Sendable {
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case equal = "="
    case notEqual = "!="
}

/// Builtins that compute a value. The comparison builtins (`lt`, `lteq`, `gt`,
/// `gteq`, `equal`) lower to `BodyLiteral.comparison`.
public enum Builtin: String, Hashable, Sendable, CaseIterable {
    case max, plus, minus, mul, div, float, int, concat, len

    /// How many inputs the builtin takes (its output is always one more argument).
    public var inputCount: Int {
        switch self {
        case .float, .int, .len: 1
        case .max, .plus, .minus, .mul, .div, .concat: 2
        }
    }
}

/// Where something is in policy text. Lines and columns count from 1.
public struct SourceLocation: Hashable, Sendable {
    public var policy: String
    public var line: Int
    public var column: Int

    public init(policy: String, line: Int, column: Int) {
        self.policy = policy
        self.line = line
        self.column = column
    }
}
