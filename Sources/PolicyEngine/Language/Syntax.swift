/// A policy's text after parsing: its rules and its facts, not yet checked.
public struct ParsedPolicy: Sendable {
    /// The rules, in source order.
    public var rules: [RuleSyntax]
    /// The facts (statements without a body whose arguments are all values), in source order.
    public var facts: [Fact]

    public init(rules: [RuleSyntax] = [], facts: [Fact] = []) {
        self.rules = rules
        self.facts = facts
    }
}

/// A row written in policy text, such as `p(1, "a", 2.5)`.
///
/// The table is always qualified: an unqualified `p(1)` in policy `alice` is `alice:p`.
public struct Fact: Hashable, Sendable {
    public var table: TableID
    public var values: [Value]
    public var location: SourceLocation

    public init(table: TableID, values: [Value], location: SourceLocation) {
        self.table = table
        self.values = values
        self.location = location
    }
}

/// A rule as written: `head :- literal, ...`, before checking and lowering.
///
/// Two rules with the same `policy` and `text` are the same rule, however they
/// were spaced or terminated in the source.
public struct RuleSyntax: Hashable, Sendable {
    public var head: AtomSyntax
    /// The body literals in source order; empty for a body-less statement that
    /// is not a fact, such as `p(1 + 2)` or `p(x)` (the latter is unsafe).
    public var body: [LiteralSyntax]
    /// The policy the rule belongs to.
    public var policy: String
    /// The canonical single-line rendering, e.g. `error(vm) :- nova:servers(vm, host), not allowed(host)`.
    public var text: String
    /// Where the rule starts.
    public var location: SourceLocation

    public init(head: AtomSyntax, body: [LiteralSyntax], policy: String, location: SourceLocation) {
        self.head = head
        self.body = body
        self.policy = policy
        self.location = location
        self.text = ""
        self.text = canonicalText
    }
}

/// A table reference with arguments, such as `nova:servers(id=x, status="ACTIVE")`.
public struct AtomSyntax: Hashable, Sendable {
    /// The qualifier as written (`nova` in `nova:servers`), or `nil` when unqualified.
    public var service: String?
    public var name: String
    public var arguments: [ArgumentSyntax]
    /// Where the table name starts.
    public var location: SourceLocation

    public init(service: String?, name: String, arguments: [ArgumentSyntax], location: SourceLocation) {
        self.service = service
        self.name = name
        self.arguments = arguments
        self.location = location
    }
}

/// One argument of an atom: a term, optionally for a named column (`id=x`).
public struct ArgumentSyntax: Hashable, Sendable {
    /// The column name for `column=term`, or `nil` for a positional argument.
    public var column: String?
    public var term: TermSyntax
    /// Where the argument starts (the column name, if any).
    public var location: SourceLocation

    public init(column: String? = nil, term: TermSyntax, location: SourceLocation) {
        self.column = column
        self.term = term
        self.location = location
    }
}

/// A term: a variable, `_`, a value, or arithmetic over terms.
public indirect enum TermSyntax: Hashable, Sendable {
    case variable(String, SourceLocation)
    /// `_`: a fresh variable at each occurrence.
    case anonymous(SourceLocation)
    case constant(Value, SourceLocation)
    /// `left op right`; the location is the operator's.
    case arithmetic(ArithmeticOperator, TermSyntax, TermSyntax, SourceLocation)

    /// Where the term starts.
    public var location: SourceLocation {
        switch self {
        case .variable(_, let location), .anonymous(let location), .constant(_, let location):
            location
        case .arithmetic(_, let left, _, _):
            left.location
        }
    }
}

/// A literal in a rule body.
public enum LiteralSyntax: Hashable, Sendable {
    /// `table(args)`, or a builtin call such as `plus(x, 1, y)`.
    case positive(AtomSyntax)
    /// `not table(args)` (also `NOT` or `!`); the location is the negation keyword's.
    case negative(AtomSyntax, SourceLocation)
    /// An infix comparison such as `x < y + 1`; the location is the operator's.
    case comparison(ComparisonOperator, TermSyntax, TermSyntax, SourceLocation)

    /// Where the literal starts.
    public var location: SourceLocation {
        switch self {
        case .positive(let atom): atom.location
        case .negative(_, let location): location
        case .comparison(_, let left, _, _): left.location
        }
    }
}

/// A parsed query: a table, with optional argument patterns.
///
/// `alice:error` (a bare table) has `arguments == nil` and selects every row.
public struct QuerySyntax: Hashable, Sendable {
    /// The table, qualified with the default policy when written unqualified.
    public var table: TableID
    /// The arguments, or `nil` for a bare table name. Terms are variables, `_` or values.
    public var arguments: [ArgumentSyntax]?
    /// Where the query's errors are reported; `policy` is the default policy or `query`.
    public var location: SourceLocation

    public init(table: TableID, arguments: [ArgumentSyntax]?, location: SourceLocation) {
        self.table = table
        self.arguments = arguments
        self.location = location
    }
}
