/// Reads policy text (Congress's Datalog syntax) and queries into syntax trees.
///
/// Parsing only checks syntax; `ProgramChecker` checks meaning.
public enum PolicyParser {
    /// Parses one policy's text into its rules and facts.
    ///
    /// - Parameters:
    ///   - text: The policy text: statements such as `p(1, "a")` or `h(x) :- q(x), not r(x)`,
    ///     optionally ended by `.` or `;`.
    ///   - policy: The policy's name; unqualified tables belong to it.
    /// - Returns: The rules and facts, in source order.
    /// - Throws: `PolicyError` with code `syntax-error` at the offending line and column,
    ///   with the text's further syntax errors in `others`.
    public static func parse(_ text: String, policy: String) throws(PolicyError) -> ParsedPolicy {
        let (parsed, errors) = try parseRecovering(text, policy: policy)
        if let first = PolicyError.reporting(errors) { throw first }
        return parsed
    }

    /// Parses every statement it can: after a syntax error it skips to the
    /// next statement and goes on, so that a text reports all its errors.
    ///
    /// - Returns: The statements that parsed, and the syntax errors in order.
    /// - Throws: A token the lexer cannot read (an unterminated string, an
    ///   unknown character or escape): nothing after it can be trusted.
    static func parseRecovering(_ text: String, policy: String) throws(PolicyError) -> (ParsedPolicy, [PolicyError]) {
        var parser = Parser(tokens: try Lexer.tokens(text, policy: policy), policy: policy)
        return parser.program()
    }

    /// Parses a query: `alice:error(x)`, `p(1, y)`, `nova:servers(id=x)`, or a bare table `alice:error`.
    ///
    /// - Parameters:
    ///   - text: The query. Arguments are variables, `_` or values; named columns are allowed.
    ///   - defaultPolicy: The policy an unqualified table name belongs to, or `nil` to require qualified names.
    /// - Throws: `PolicyError` with code `syntax-error`.
    public static func parseQuery(_ text: String, defaultPolicy: String?) throws(PolicyError) -> QuerySyntax {
        let policy = defaultPolicy ?? "query"
        var parser = Parser(tokens: try Lexer.tokens(text, policy: policy), policy: policy)
        return try parser.query(defaultPolicy: defaultPolicy)
    }
}

/// A recursive-descent parser over the lexer's tokens.
struct Parser {
    private let tokens: [Token]
    private let policy: String
    private var position = 0
    /// How deep the current expression is nested (parentheses, unary minus)
    /// and how many operators it has so far. Both are capped so that hostile
    /// text cannot exhaust the stack of the recursive parts that follow
    /// (parsing, lowering, evaluation).
    private var expressionNesting = 0
    private var expressionOperators = 0
    static let maximumExpressionSize = 64

    init(tokens: [Token], policy: String) {
        self.tokens = tokens
        self.policy = policy
    }

    // MARK: - Helpers

    private var current: Token { tokens[position] }
    private var next: Token { tokens[min(position + 1, tokens.count - 1)] }

    private mutating func advance() {
        if position < tokens.count - 1 { position += 1 }
    }

    private func location(_ token: Token) -> SourceLocation {
        SourceLocation(policy: policy, line: token.line, column: token.column)
    }

    private func error(_ message: String, at token: Token) -> PolicyError {
        PolicyError(.syntaxError, message, at: location(token))
    }

    private func expected(_ what: String) -> PolicyError {
        error("expected \(what), found \(current.kind.display)", at: current)
    }

    private mutating func expect(_ kind: Token.Kind, _ what: String) throws(PolicyError) {
        guard current.kind == kind else { throw expected(what) }
        advance()
    }

    static func isNegationKeyword(_ word: String) -> Bool { word == "not" || word == "NOT" }

    private var isTerminator: Bool { current.kind == .dot || current.kind == .semicolon }

    // MARK: - Statements

    /// Every statement that parses, and a syntax error for each that does not
    /// (up to `PolicyError.reportLimit`).
    mutating func program() -> (ParsedPolicy, [PolicyError]) {
        var result = ParsedPolicy()
        var errors: [PolicyError] = []
        while current.kind != .end, errors.count < PolicyError.reportLimit {
            let start = position
            let kept = (rules: result.rules.count, facts: result.facts.count)
            do throws(PolicyError) {
                try statement(into: &result)
                if isTerminator {
                    advance()
                } else if current.kind != .end, current.line == tokens[position - 1].line {
                    // Two statements on one line need a terminator; this is usually a missing comma.
                    throw expected("',' between literals, or '.' or ';' to end the statement")
                }
            } catch {
                // Drop the statement if it was read before its end turned out wrong.
                result.rules.removeSubrange(kept.rules...)
                result.facts.removeSubrange(kept.facts...)
                errors.append(error)
                skipToNextStatement(after: start)
            }
        }
        return (result, errors)
    }

    /// After a syntax error in the statement that began at token `start`: on
    /// to the token after a terminator, or to the first token of a line that
    /// does not continue the statement (the line before does not end in ','
    /// or ':-'), which may be the offending token itself. Always moves past `start`.
    private mutating func skipToNextStatement(after start: Int) {
        expressionNesting = 0
        while current.kind != .end {
            if isTerminator {
                advance()
                return
            }
            if position > start, beginsStatementLine { return }
            advance()
        }
    }

    /// The current token is the first of its line, and the line before does not continue.
    private var beginsStatementLine: Bool {
        let previous = tokens[position - 1]
        return current.line != previous.line && previous.kind != .comma && previous.kind != .turnstile
    }

    private mutating func statement(into result: inout ParsedPolicy) throws(PolicyError) {
        let start = current
        let head = try atom(allowNamedColumns: false)
        if let service = head.service, service != policy {
            throw PolicyError(
                .syntaxError,
                "policy \(policy) can only define its own tables; write '\(head.name)' without '\(service):'",
                at: head.location)
        }
        guard current.kind == .turnstile else {
            if let values = head.constantValues {
                let table = TableID(service: policy, name: head.name)
                result.facts.append(Fact(table: table, values: values, location: location(start)))
            } else {
                result.rules.append(RuleSyntax(head: head, body: [], policy: policy, location: location(start)))
            }
            return
        }
        advance()
        var body = [try literal()]
        while current.kind == .comma {
            advance()
            body.append(try literal())
        }
        result.rules.append(RuleSyntax(head: head, body: body, policy: policy, location: location(start)))
    }

    private mutating func literal() throws(PolicyError) -> LiteralSyntax {
        let start = current
        // `not` always starts a negation: were it also a table name, the
        // canonical text `h :- p, not` would read back differently when another
        // rule follows it on the next line.
        if case .identifier(let word) = current.kind, Self.isNegationKeyword(word) {
            advance()
            return .negative(try negatedAtom(), location(start))
        }
        if current.kind == .bang {
            advance()
            return .negative(try negatedAtom(), location(start))
        }
        if case .identifier = current.kind, next.kind == .leftParen || next.kind == .colon {
            let atom = try atom(allowNamedColumns: true)
            if current.kind.comparison != nil {
                throw error("a table literal cannot be compared; compare its variables instead", at: current)
            }
            return .positive(atom)
        }
        guard case .identifier = current.kind else {
            return try comparison()
        }
        let left = try expression()
        if current.kind.comparison != nil {
            return try comparison(after: left)
        }
        guard case .variable(let name, let location) = left else {
            throw expected("a comparison operator (<, <=, >, >=, =, !=)")
        }
        return .positive(AtomSyntax(service: nil, name: name, arguments: [], location: location))
    }

    private mutating func negatedAtom() throws(PolicyError) -> AtomSyntax {
        let atom = try atom(allowNamedColumns: true)
        if current.kind.comparison != nil {
            throw error(
                "a comparison cannot be negated; use the opposite operator, e.g. 'x >= y' for 'not x < y'",
                at: current)
        }
        return atom
    }

    private mutating func comparison(after left: TermSyntax? = nil) throws(PolicyError) -> LiteralSyntax {
        let left = if let left { left } else { try expression() }
        guard let op = current.kind.comparison else {
            throw expected("a comparison operator (<, <=, >, >=, =, !=)")
        }
        let opToken = current
        advance()
        let right = try expression()
        return .comparison(op, left, right, location(opToken))
    }

    // MARK: - Atoms

    /// `name`, `service:name`, each optionally followed by `(arguments)`.
    private mutating func atom(allowNamedColumns: Bool) throws(PolicyError) -> AtomSyntax {
        let start = current
        guard case .identifier(var name) = current.kind else { throw expected("a table name") }
        advance()
        var service: String?
        if current.kind == .colon {
            advance()
            guard case .identifier(let qualified) = current.kind else {
                throw expected("a table name after '\(name):'")
            }
            service = name
            name = qualified
            advance()
        }
        guard name != "_" else { throw error("'_' is not a table name", at: start) }
        guard !Self.isNegationKeyword(name) else { throw error("'\(name)' is a keyword, not a table name", at: start) }
        var arguments: [ArgumentSyntax] = []
        if current.kind == .leftParen {
            advance()
            if current.kind != .rightParen {
                arguments.append(try argument(allowNamedColumns: allowNamedColumns))
                while current.kind == .comma {
                    advance()
                    arguments.append(try argument(allowNamedColumns: allowNamedColumns))
                }
            }
            try expect(.rightParen, "',' or ')'")
        }
        return AtomSyntax(service: service, name: name, arguments: arguments, location: location(start))
    }

    private mutating func argument(allowNamedColumns: Bool) throws(PolicyError) -> ArgumentSyntax {
        let start = current
        if case .identifier(let column) = current.kind, next.kind == .equal {
            guard allowNamedColumns else {
                throw error("named columns ('\(column)=...') are allowed only in body literals and queries", at: start)
            }
            advance()
            advance()
            return ArgumentSyntax(column: column, term: try expression(), location: location(start))
        }
        return ArgumentSyntax(term: try expression(), location: location(start))
    }

    // MARK: - Expressions

    private mutating func expression() throws(PolicyError) -> TermSyntax {
        if expressionNesting == 0 { expressionOperators = 0 }
        try enterNestedExpression()
        defer { expressionNesting -= 1 }
        var left = try product()
        while let op = additive(current.kind) {
            let opToken = current
            try countOperator(opToken)
            advance()
            left = .arithmetic(op, left, try product(), location(opToken))
        }
        return left
    }

    private func additive(_ kind: Token.Kind) -> ArithmeticOperator? {
        kind == .plus ? .add : kind == .minus ? .subtract : nil
    }

    private mutating func product() throws(PolicyError) -> TermSyntax {
        var left = try unary()
        while current.kind == .star || current.kind == .slash {
            let op: ArithmeticOperator = current.kind == .star ? .multiply : .divide
            let opToken = current
            try countOperator(opToken)
            advance()
            left = .arithmetic(op, left, try unary(), location(opToken))
        }
        return left
    }

    private mutating func unary() throws(PolicyError) -> TermSyntax {
        guard current.kind == .minus else { return try primary() }
        let minus = current
        advance()
        if case .number(let digits, let isFloat) = current.kind {
            let value = try number("-" + digits, isFloat: isFloat, at: minus)
            advance()
            return .constant(value, location(minus))
        }
        // `-e` is `0 - e`.
        try countOperator(minus)
        try enterNestedExpression()
        defer { expressionNesting -= 1 }
        return .arithmetic(.subtract, .constant(.int(0), location(minus)), try unary(), location(minus))
    }

    private mutating func enterNestedExpression() throws(PolicyError) {
        guard expressionNesting < Parser.maximumExpressionSize else {
            throw error(
                "expression is nested more than \(Parser.maximumExpressionSize) levels deep; "
                    + "split it with intermediate variables", at: current)
        }
        expressionNesting += 1
    }

    private mutating func countOperator(_ token: Token) throws(PolicyError) {
        expressionOperators += 1
        guard expressionOperators <= Parser.maximumExpressionSize else {
            throw error(
                "expression has more than \(Parser.maximumExpressionSize) operators; "
                    + "split it with intermediate variables", at: token)
        }
    }

    private mutating func primary() throws(PolicyError) -> TermSyntax {
        let token = current
        switch token.kind {
        case .number(let digits, let isFloat):
            advance()
            return .constant(try number(digits, isFloat: isFloat, at: token), location(token))
        case .string(let value):
            advance()
            return .constant(.string(value), location(token))
        case .identifier(let name):
            advance()
            return name == "_" ? .anonymous(location(token)) : .variable(name, location(token))
        case .leftParen:
            advance()
            let inner = try expression()
            try expect(.rightParen, "')'")
            return inner
        default:
            throw expected("a variable, a value or '('")
        }
    }

    private func number(_ text: String, isFloat: Bool, at token: Token) throws(PolicyError) -> Value {
        if isFloat, let value = Double(text) {
            guard value.isFinite else { throw error("float \(text) is too large for 64 bits", at: token) }
            return .float(value)
        }
        if let value = Int64(text) { return .int(value) }
        throw error("integer \(text) does not fit in 64 bits; write it as a float (\(text).0) or make it smaller", at: token)
    }

    // MARK: - Queries

    mutating func query(defaultPolicy: String?) throws(PolicyError) -> QuerySyntax {
        let start = current
        let atom = try atom(allowNamedColumns: true)
        guard let service = atom.service ?? defaultPolicy else {
            throw error("qualify the table with its policy or data source, e.g. 'alice:\(atom.name)'", at: start)
        }
        // `p()` selects the same rows as `p`, but says "zero columns".
        let arguments = tokens.contains { $0.kind == .leftParen } ? atom.arguments : nil
        for argument in atom.arguments {
            if case .arithmetic(_, _, _, let location) = argument.term {
                throw PolicyError(.syntaxError, "a query's arguments are variables, '_' or values, not arithmetic", at: location)
            }
        }
        if isTerminator { advance() }
        guard current.kind == .end else { throw expected("the end of the query") }
        return QuerySyntax(
            table: TableID(service: service, name: atom.name), arguments: arguments, location: location(start))
    }
}

extension AtomSyntax {
    /// The arguments' values when every argument is a value, so the statement is a fact.
    var constantValues: [Value]? {
        var values: [Value] = []
        for argument in arguments {
            guard argument.column == nil, case .constant(let value, _) = argument.term else { return nil }
            values.append(value)
        }
        return values
    }
}
