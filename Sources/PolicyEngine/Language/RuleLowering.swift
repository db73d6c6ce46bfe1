/// Where a table is used, for the arity and stratification checks.
struct TableUse {
    var table: TableID
    var arity: Int
    var location: SourceLocation
    /// Whether the use is in a body (so the rule's head depends on the table).
    var inBody: Bool
    var negated: Bool
    /// Where a negated literal's `not` is, for stratification errors.
    var negationLocation: SourceLocation? = nil
}

/// What a lowered literal needs bound and what it binds, for the safety check.
enum SafetyStep {
    /// A positive table literal: binds all these slots.
    case binds(Set<Int>)
    /// A test: needs these slots bound first.
    case needs([VariableUse])
    /// A negated literal: needs these slots bound first.
    case negated([VariableUse])
    /// A builtin with a result: needs the inputs, then binds the output slot (if it is a variable).
    case function(inputs: [VariableUse], output: Int?)
    /// `left = right`: a test once both sides are bound, or binds a lone unbound variable on one side.
    case equality(EqualitySide, EqualitySide)
}

/// One side of an equality, for the safety check.
struct EqualitySide {
    /// The slot when the side is a lone variable.
    var lone: Int?
    var variables: [VariableUse]
}

/// An occurrence of a variable; `name == nil` for a variable that lowering made up.
struct VariableUse {
    var slot: Int
    var name: String?
    var location: SourceLocation
}

/// Lowers one rule to a `CheckedRule`, collecting errors instead of stopping at the first.
struct RuleLowering {
    let rule: RuleSyntax
    let context: ProgramChecker

    private(set) var errors: [PolicyError] = []
    private(set) var uses: [TableUse] = []
    private(set) var steps: [SafetyStep] = []
    private(set) var headVariables: [VariableUse] = []
    private var slots: [String: Int] = [:]
    private var names: [String] = []
    private var body: [BodyLiteral] = []
    private var sourceNames: Set<String> = []

    init(rule: RuleSyntax, context: ProgramChecker) {
        self.rule = rule
        self.context = context
    }

    private var policy: String { rule.policy }

    mutating func lower() -> CheckedRule {
        sourceNames = rule.variableNames
        let head = TableID(service: policy, name: rule.head.name)
        uses.append(TableUse(table: head, arity: rule.head.arguments.count, location: rule.head.location, inBody: false, negated: false))
        var headArguments: [Expression] = []
        for argument in rule.head.arguments {
            if let expression = expression(argument.term, role: .head) {
                headArguments.append(expression)
                headVariables += variableUses(argument.term)
            }
        }
        for literal in rule.body {
            lower(literal)
        }
        return CheckedRule(
            head: head, headArguments: headArguments, body: body, variableNames: names,
            policy: policy, text: rule.text, location: rule.location)
    }

    // MARK: - Variables

    private mutating func slot(_ name: String) -> Int {
        if let slot = slots[name] { return slot }
        names.append(name)
        slots[name] = names.count - 1
        return names.count - 1
    }

    /// A variable for lowering's own use, named so it cannot clash with the rule's.
    private mutating func freshSlot() -> Int {
        var counter = names.count + 1
        while sourceNames.contains("_\(counter)") || slots["_\(counter)"] != nil { counter += 1 }
        return slot("_\(counter)")
    }

    /// The variables of a term that `expression(_:role:)` or a pattern has already lowered
    /// (so every name has a slot; callers lower first, then collect uses).
    private func variableUses(_ term: TermSyntax) -> [VariableUse] {
        switch term {
        case .variable(let name, let location): [VariableUse(slot: slots[name]!, name: name, location: location)]
        case .anonymous, .constant: []
        case .arithmetic(_, let left, let right, _): variableUses(left) + variableUses(right)
        }
    }

    private func error(_ code: PolicyError.Code, _ message: String, at location: SourceLocation) -> PolicyError {
        PolicyError(code, message, at: location)
    }

    // MARK: - Expressions

    enum Role { case head, input }

    /// The term as an expression, or `nil` (with an error recorded) if it holds `_` or a type error.
    private mutating func expression(_ term: TermSyntax, role: Role) -> Expression? {
        switch term {
        case .variable(let name, _):
            return .variable(slot(name))
        case .constant(let value, _):
            return .constant(value)
        case .anonymous(let location):
            let message =
                role == .head
                ? "'_' cannot appear in a head: name the variable and bind it in the body"
                : "'_' cannot be read by a comparison, builtin or arithmetic: use a named variable bound by a positive literal"
            errors.append(error(.unsafeVariable, message, at: location))
            return nil
        case .arithmetic(let op, let left, let right, let location):
            let lhs = expression(left, role: role)
            let rhs = expression(right, role: role)
            var valid = lhs != nil && rhs != nil
            for operand in [left, right] {
                if case .constant(.string, let stringLocation) = operand {
                    errors.append(error(.typeError, "arithmetic ('\(op.rawValue)') on a string; use concat to join strings", at: stringLocation))
                    valid = false
                }
            }
            if op == .divide, case .constant(let divisor, _) = right, divisor == .int(0) || divisor == .float(0) {
                errors.append(error(.typeError, "division by zero; divide by a non-zero value", at: location))
                valid = false
            }
            guard valid, let lhs, let rhs else { return nil }
            return .arithmetic(op, lhs, rhs)
        }
    }

    // MARK: - Literals

    private mutating func lower(_ literal: LiteralSyntax) {
        switch literal {
        case .comparison(let op, let left, let right, _):
            comparison(op, left, right)
        case .positive(let atom):
            if let builtin = resolveBuiltin(atom) {
                if let builtin { call(builtin, atom) }
            } else {
                tableLiteral(atom, negation: nil)
            }
        case .negative(let atom, let location):
            if let builtin = resolveBuiltin(atom) {
                if builtin != nil {
                    errors.append(
                        error(
                            .syntaxError,
                            "a builtin cannot be negated; use the opposite comparison, e.g. 'x >= y' for 'not lt(x, y)'",
                            at: location))
                }
            } else {
                tableLiteral(atom, negation: location)
            }
        }
    }

    private mutating func comparison(_ op: ComparisonOperator, _ left: TermSyntax, _ right: TermSyntax) {
        let lhs = expression(left, role: .input)
        let rhs = expression(right, role: .input)
        guard let lhs, let rhs else { return }
        body.append(.comparison(op, lhs, rhs))
        if op == .equal {
            steps.append(.equality(side(left, lhs), side(right, rhs)))
        } else {
            steps.append(.needs(variableUses(left) + variableUses(right)))
        }
    }

    private func side(_ term: TermSyntax, _ expression: Expression) -> EqualitySide {
        if case .variable(let slot) = expression { return EqualitySide(lone: slot, variables: variableUses(term)) }
        return EqualitySide(lone: nil, variables: variableUses(term))
    }

    /// `.some(nil)` for a builtin with an error already recorded, `nil` for a table.
    private mutating func resolveBuiltin(_ atom: AtomSyntax) -> CallTarget?? {
        if atom.service == BuiltinName.service {
            guard let target = CallTarget(atom.name) else {
                errors.append(
                    error(
                        .unknownBuiltin,
                        "no builtin '\(atom.name)'; the builtins are \(CallTarget.allNames.joined(separator: ", "))",
                        at: atom.location))
                return .some(nil)
            }
            return .some(target)
        }
        guard atom.service == nil, let target = CallTarget(atom.name),
            !context.defines(TableID(service: policy, name: atom.name))
        else { return nil }
        return .some(target)
    }

    // MARK: - Builtin calls

    private mutating func call(_ target: CallTarget, _ atom: AtomSyntax) {
        if let named = atom.arguments.first(where: { $0.column != nil }) {
            errors.append(error(.unknownColumn, "builtin \(atom.name) takes positional arguments, not named columns", at: named.location))
            return
        }
        guard atom.arguments.count == target.argumentCount else {
            errors.append(
                error(
                    .unknownBuiltin,
                    "builtin \(atom.name) takes \(target.argumentCount) arguments (\(target.signature)), not \(atom.arguments.count)",
                    at: atom.location))
            return
        }
        let terms = atom.arguments.map(\.term)
        switch target {
        case .comparison(let op):
            comparison(op, terms[0], terms[1])
        case .function(let builtin):
            function(builtin, inputs: Array(terms.dropLast()), output: terms[terms.count - 1])
        }
    }

    private mutating func function(_ builtin: Builtin, inputs: [TermSyntax], output: TermSyntax) {
        let errorCount = errors.count
        for input in inputs { checkInputType(builtin, input) }
        checkOutputType(builtin, output)
        let expressions = inputs.compactMap { expression($0, role: .input) }
        guard errors.count == errorCount else { return }
        let inputUses = inputs.flatMap(variableUses)
        switch output {
        case .variable(let name, _):
            let slot = slot(name)
            body.append(.function(builtin, inputs: expressions, output: .variable(slot)))
            steps.append(.function(inputs: inputUses, output: slot))
        case .constant(let value, _):
            body.append(.function(builtin, inputs: expressions, output: .constant(value)))
            steps.append(.function(inputs: inputUses, output: nil))
        case .anonymous:
            body.append(.function(builtin, inputs: expressions, output: .wildcard))
            steps.append(.function(inputs: inputUses, output: nil))
        case .arithmetic:
            guard let value = expression(output, role: .input) else { return }
            let fresh = freshSlot()
            body.append(.function(builtin, inputs: expressions, output: .variable(fresh)))
            steps.append(.function(inputs: inputUses, output: fresh))
            body.append(.comparison(.equal, .variable(fresh), value))
            steps.append(.equality(EqualitySide(lone: fresh, variables: []), side(output, value)))
        }
    }

    private mutating func checkInputType(_ builtin: Builtin, _ input: TermSyntax) {
        guard case .constant(let value, let location) = input else { return }
        switch (builtin, value) {
        case (.plus, .string), (.minus, .string), (.mul, .string), (.div, .string):
            errors.append(error(.typeError, "\(builtin.rawValue) takes numbers, not the string \(value)", at: location))
        case (.int, .string(let text)) where NumberText.integer(text) == nil:
            errors.append(error(.typeError, "int reads a string only when it is an integer, which \(value) is not", at: location))
        case (.float, .string(let text)) where NumberText.float(text) == nil:
            errors.append(error(.typeError, "float reads a string only when it is a number, which \(value) is not", at: location))
        case (.len, .int), (.len, .float), (.concat, .int), (.concat, .float):
            errors.append(error(.typeError, "\(builtin.rawValue) takes strings, not the number \(value); quote it", at: location))
        case (.div, .int(0)), (.div, .float(0)):
            errors.append(error(.typeError, "div by zero; divide by a non-zero value", at: location))
        default:
            break
        }
    }

    private mutating func checkOutputType(_ builtin: Builtin, _ output: TermSyntax) {
        guard case .constant(let value, let location) = output else { return }
        switch (builtin, value) {
        case (.concat, .int), (.concat, .float):
            errors.append(error(.typeError, "concat yields a string, never the number \(value)", at: location))
        case (.plus, .string), (.minus, .string), (.mul, .string), (.div, .string), (.float, .string), (.int, .string), (.len, .string):
            errors.append(error(.typeError, "\(builtin.rawValue) yields a number, never the string \(value)", at: location))
        default:
            break
        }
    }

    // MARK: - Table literals

    private mutating func tableLiteral(_ atom: AtomSyntax, negation: SourceLocation?) {
        let table = TableID(service: atom.service ?? policy, name: atom.name)
        let negated = negation != nil
        guard let terms = columnTerms(atom, table: table) else { return }
        uses.append(
            TableUse(
                table: table, arity: terms.count, location: atom.location, inBody: true, negated: negated,
                negationLocation: negation))
        var patterns: [Pattern] = []
        var direct: [VariableUse] = []
        var computed: [(slot: Int, term: TermSyntax, value: Expression)] = []
        for term in terms {
            switch term {
            case nil, .anonymous:
                patterns.append(.wildcard)
            case .constant(let value, _):
                patterns.append(.constant(value))
            case .variable(let name, let location):
                let slot = slot(name)
                patterns.append(.variable(slot))
                direct.append(VariableUse(slot: slot, name: name, location: location))
            case .arithmetic(_, _, _, _):
                guard let term, let value = expression(term, role: .input) else { return }
                let fresh = freshSlot()
                patterns.append(.variable(fresh))
                computed.append((fresh, term, value))
            }
        }
        // A computed argument is a fresh variable equal to the expression. For a
        // negated literal the equalities bind the fresh variables, so they come first.
        let equalities = computed.map { BodyLiteral.comparison(.equal, .variable($0.slot), $0.value) }
        if negated {
            let freshUses = computed.map { VariableUse(slot: $0.slot, name: nil, location: atom.location) }
            body += equalities
            body.append(.negative(table, patterns))
            steps.append(.negated(direct + freshUses))
        } else {
            body.append(.positive(table, patterns))
            body += equalities
            steps.append(.binds(Set(direct.map(\.slot) + computed.map(\.slot))))
        }
        for (slot, term, value) in computed {
            steps.append(.equality(EqualitySide(lone: slot, variables: []), side(term, value)))
        }
    }

    /// A query's arguments as patterns (recording errors); variables get slots in `variableNames`.
    mutating func queryPatterns(_ atom: AtomSyntax, table: TableID) -> [Pattern] {
        guard let terms = columnTerms(atom, table: table) else { return [] }
        return terms.map { term in
            switch term {
            case .variable(let name, _): .variable(slot(name))
            case .constant(let value, _): .constant(value)
            case nil, .anonymous, .arithmetic: .wildcard
            }
        }
    }

    var variableNames: [String] { names }

    /// One term per column (`nil` for an unmentioned column), or `nil` after recording an error.
    private mutating func columnTerms(_ atom: AtomSyntax, table: TableID) -> [TermSyntax?]? {
        guard let firstNamed = atom.arguments.firstIndex(where: { $0.column != nil }) else {
            return atom.arguments.map(\.term)
        }
        guard let columns = context.schemas[table] else {
            errors.append(
                error(
                    .unknownColumn,
                    "the columns of \(table) are not known, so '\(atom.arguments[firstNamed].column!)=' cannot be used; pass its arguments by position",
                    at: atom.arguments[firstNamed].location))
            return nil
        }
        var terms = [TermSyntax?](repeating: nil, count: columns.count)
        var given = [Bool](repeating: false, count: columns.count)
        for (position, argument) in atom.arguments.enumerated() {
            let index: Int
            if let column = argument.column {
                guard let found = columns.firstIndex(of: column) else {
                    errors.append(
                        error(
                            .unknownColumn,
                            "\(table) has no column '\(column)'; its columns are \(columns.joined(separator: ", "))",
                            at: argument.location))
                    return nil
                }
                index = found
            } else {
                guard position < firstNamed, position < columns.count else {
                    errors.append(
                        error(
                            .syntaxError, "positional arguments must come before named ones, and within \(table)'s \(columns.count) columns",
                            at: argument.location))
                    return nil
                }
                index = position
            }
            guard !given[index] else {
                errors.append(error(.unknownColumn, "column '\(columns[index])' of \(table) is given twice", at: argument.location))
                return nil
            }
            given[index] = true
            terms[index] = argument.term
        }
        return terms
    }
}

/// What a builtin name calls: a comparison or a builtin with a result.
enum CallTarget {
    case comparison(ComparisonOperator)
    case function(Builtin)

    init?(_ name: String) {
        if let op = BuiltinName.comparisons[name] {
            self = .comparison(op)
        } else if let builtin = Builtin(rawValue: name) {
            self = .function(builtin)
        } else {
            return nil
        }
    }

    static var allNames: [String] {
        ["lt", "lteq", "gt", "gteq", "equal"] + Builtin.allCases.map(\.rawValue)
    }

    var argumentCount: Int {
        switch self {
        case .comparison: 2
        case .function(let builtin): builtin.inputCount + 1
        }
    }

    var signature: String {
        switch self {
        case .comparison: "two values to compare"
        case .function(let builtin) where builtin.inputCount == 1: "an input, then the output"
        case .function: "two inputs, then the output"
        }
    }
}

extension RuleSyntax {
    /// Every variable name the rule's text uses.
    var variableNames: Set<String> {
        var names: Set<String> = []
        func collect(_ term: TermSyntax) {
            switch term {
            case .variable(let name, _): names.insert(name)
            case .anonymous, .constant: break
            case .arithmetic(_, let left, let right, _):
                collect(left)
                collect(right)
            }
        }
        for argument in head.arguments { collect(argument.term) }
        for literal in body {
            switch literal {
            case .positive(let atom), .negative(let atom, _):
                for argument in atom.arguments { collect(argument.term) }
            case .comparison(_, let left, let right, _):
                collect(left)
                collect(right)
            }
        }
        return names
    }
}
