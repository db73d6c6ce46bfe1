import PolicyEngine
import Testing

@Suite struct CheckerTests {
    private func rule(_ text: String, schemas: [TableID: [String]] = [:]) throws -> CheckedRule {
        try #require(try Language.check(text, schemas: schemas).rules.first)
    }

    private func slot(_ rule: CheckedRule, _ name: String) throws -> Int {
        try #require(rule.variableNames.firstIndex(of: name), "no variable \(name) in \(rule.variableNames)")
    }

    // MARK: - Lowering

    @Test func qualifiesTablesWithTheRulesPolicy() throws {
        let rule = try rule("error(vm) :- nova:servers(vm, host), not allowed(host), bob:ok(vm)")
        let vm = try slot(rule, "vm")
        let host = try slot(rule, "host")
        #expect(rule.head == Language.table("alice:error"))
        #expect(rule.headArguments == [.variable(vm)])
        #expect(
            rule.body == [
                .positive(Language.table("nova:servers"), [.variable(vm), .variable(host)]),
                .negative(Language.table("alice:allowed"), [.variable(host)]),
                .positive(Language.table("bob:ok"), [.variable(vm)]),
            ])
        #expect(rule.policy == "alice")
        #expect(rule.text == "error(vm) :- nova:servers(vm, host), not allowed(host), bob:ok(vm)")
    }

    @Test func namedColumnsBecomePositionsWithWildcards() throws {
        let schemas = [Language.table("nova:servers"): ["id", "host", "status"]]
        let program = try Language.check(#"h(x) :- nova:servers(id=x, status="ACTIVE")"#, schemas: schemas)
        let rule = program.rules[0]
        #expect(rule.body == [.positive(Language.table("nova:servers"), [.variable(0), .wildcard, .constant(.string("ACTIVE"))])])
        #expect(program.arities[Language.table("nova:servers")] == 3)
    }

    @Test func positionalArgumentsMayPrecedeNamedOnes() throws {
        let schemas = [Language.table("nova:servers"): ["id", "host", "status"]]
        let rule = try rule(#"h(x) :- nova:servers(x, status="ACTIVE")"#, schemas: schemas)
        #expect(rule.body == [.positive(Language.table("nova:servers"), [.variable(0), .wildcard, .constant(.string("ACTIVE"))])])
    }

    @Test func expressionArgumentsBecomeFreshVariablesWithAnEquality() throws {
        let rule = try rule("h(x) :- p(x, y), q(x, y + 1)")
        let x = try slot(rule, "x")
        let y = try slot(rule, "y")
        #expect(rule.variableCount == 3)
        let fresh = try #require(Set(0..<3).subtracting([x, y]).first)
        #expect(!["x", "y"].contains(rule.variableNames[fresh]))
        #expect(
            rule.body == [
                .positive(Language.table("alice:p"), [.variable(x), .variable(y)]),
                .positive(Language.table("alice:q"), [.variable(x), .variable(fresh)]),
                .comparison(.equal, .variable(fresh), .arithmetic(.add, .variable(y), .constant(.int(1)))),
            ])
    }

    @Test func freshVariablesDoNotClashWithSourceNames() throws {
        let rule = try rule("h(_1, _2, _3) :- p(_1, _2, _3), q(_1 + 1)")
        #expect(Set(rule.variableNames).count == rule.variableNames.count)
        #expect(rule.variableNames.count == 4)
    }

    @Test func headArgumentsMayBeExpressions() throws {
        let rule = try rule("next(x, y * 2 + 1) :- cur(x, y)")
        let y = try slot(rule, "y")
        #expect(
            rule.headArguments[1]
                == .arithmetic(.add, .arithmetic(.multiply, .variable(y), .constant(.int(2))), .constant(.int(1))))
    }

    @Test func comparisonBuiltinsAndInfixOperatorsBecomeComparisons() throws {
        let rule = try rule("h(x) :- p(x, y), lt(x, y), builtin:gteq(y, 1), lteq(x, 2), gt(y, 0), equal(x, x), x != y, x <= 3")
        let x = try slot(rule, "x")
        let y = try slot(rule, "y")
        #expect(
            Array(rule.body.dropFirst()) == [
                .comparison(.less, .variable(x), .variable(y)),
                .comparison(.greaterOrEqual, .variable(y), .constant(.int(1))),
                .comparison(.lessOrEqual, .variable(x), .constant(.int(2))),
                .comparison(.greater, .variable(y), .constant(.int(0))),
                .comparison(.equal, .variable(x), .variable(x)),
                .comparison(.notEqual, .variable(x), .variable(y)),
                .comparison(.lessOrEqual, .variable(x), .constant(.int(3))),
            ])
    }

    @Test func valueBuiltinsBecomeFunctionsWithTheOutputLast() throws {
        let rule = try rule(
            #"h(z, n, m) :- p(x, y), plus(x, y, z), builtin:concat("a", "b", s), len(s, n), max(x, y, m), minus(x, 1, _), mul(x, 2, 4), div(x, 2, d), float(d, f), int(f, i)"#
        )
        let x = try slot(rule, "x")
        let y = try slot(rule, "y")
        let z = try slot(rule, "z")
        let s = try slot(rule, "s")
        #expect(rule.body[1] == .function(.plus, inputs: [.variable(x), .variable(y)], output: .variable(z)))
        #expect(rule.body[2] == .function(.concat, inputs: [.constant(.string("a")), .constant(.string("b"))], output: .variable(s)))
        #expect(rule.body[3] == .function(.len, inputs: [.variable(s)], output: .variable(try slot(rule, "n"))))
        #expect(rule.body[4] == .function(.max, inputs: [.variable(x), .variable(y)], output: .variable(try slot(rule, "m"))))
        #expect(rule.body[5] == .function(.minus, inputs: [.variable(x), .constant(.int(1))], output: .wildcard))
        #expect(rule.body[6] == .function(.mul, inputs: [.variable(x), .constant(.int(2))], output: .constant(.int(4))))
        #expect(rule.body.count == 10)
    }

    @Test func aTableThePolicyDefinesShadowsTheBuiltinButNotTheQualifiedName() throws {
        let program = try Language.check(
            """
            plus(1, 2, 3)
            h(z) :- p(x, y), plus(x, y, z)
            g(z) :- p(x, y), builtin:plus(x, y, z)
            len(x, y) :- p(x, y)
            k(y) :- p(x, _), len(x, y)
            """)
        let h = program.rules[0]
        #expect(
            h.body[1]
                == .positive(
                    Language.table("alice:plus"),
                    [.variable(try slot(h, "x")), .variable(try slot(h, "y")), .variable(try slot(h, "z"))]))
        #expect(program.rules[1].body[1].isFunction)
        let k = program.rules[3]
        #expect(k.body[1] == .positive(Language.table("alice:len"), [.variable(try slot(k, "x")), .variable(try slot(k, "y"))]))
    }

    @Test func anotherPolicysTableDoesNotShadowTheBuiltin() throws {
        let program = try Language.check(["alice": "h(z) :- p(x, y), plus(x, y, z)", "bob": "plus(1, 2, 3)"])
        #expect(program.rules[0].body[1].isFunction)
    }

    @Test func anonymousVariablesAreWildcards() throws {
        let rule = try rule("h(x) :- p(x, _, _), not banned(x, _)")
        #expect(rule.variableNames == ["x"])
        #expect(rule.body == [
            .positive(Language.table("alice:p"), [.variable(0), .wildcard, .wildcard]),
            .negative(Language.table("alice:banned"), [.variable(0), .wildcard]),
        ])
    }

    @Test func negatedExpressionArgumentsAreBoundBeforeTheNegation() throws {
        let rule = try rule("h(x) :- p(x), not q(x + 1)")
        let fresh = 1
        #expect(rule.body == [
            .positive(Language.table("alice:p"), [.variable(0)]),
            .comparison(.equal, .variable(fresh), .arithmetic(.add, .variable(0), .constant(.int(1)))),
            .negative(Language.table("alice:q"), [.variable(fresh)]),
        ])
    }

    @Test func keepsRuleOrderAndAcceptsConstantBodylessRules() throws {
        let program = try Language.check("b(x) :- a(x)\np(1 + 2)\na(x) :- c(x)")
        #expect(program.rules.map(\.text) == ["b(x) :- a(x)", "p(1 + 2)", "a(x) :- c(x)"])
        #expect(program.rules[1].body.isEmpty)
        #expect(program.rules[1].headArguments == [.arithmetic(.add, .constant(.int(1)), .constant(.int(2)))])
    }

    @Test func safetyNeedsOnlySomeOrder() throws {
        let rule = try rule("h(z) :- z = y + 1, y = x * 2, p(x), 3 = w + 0, w = x")
        #expect(rule.body.count == 5)
    }

    // MARK: - Strata and arities

    @Test func allowsRecursion() throws {
        let program = try Language.check("path(x, y) :- edge(x, y)\npath(x, z) :- path(x, y), edge(y, z)")
        #expect(program.strata[Language.table("alice:path")] == 0)
        #expect(program.strata[Language.table("alice:edge")] == 0)
        #expect(program.arities[Language.table("alice:path")] == 2)
    }

    @Test func negationRaisesTheStratum() throws {
        let program = try Language.check(
            """
            a(x) :- b(x), not c(x)
            c(x) :- d(x), not e(x)
            f(x) :- a(x)
            """)
        let strata = program.strata
        #expect(strata[Language.table("alice:e")] == 0)
        #expect(strata[Language.table("alice:d")] == 0)
        #expect(strata[Language.table("alice:b")] == 0)
        #expect(strata[Language.table("alice:c")] == 1)
        #expect(strata[Language.table("alice:a")] == 2)
        #expect(strata[Language.table("alice:f")] == 2)
    }

    @Test func allowsMutualRecursionAcrossPolicies() throws {
        let program = try Language.check([
            "alice": "p(x) :- bob:q(x)",
            "bob": "q(x) :- alice:p(x)\nq(x) :- nova:t(x)",
            "carol": "r(x) :- nova:t(x), not alice:p(x)",
        ])
        #expect(program.strata[Language.table("alice:p")] == 0)
        #expect(program.strata[Language.table("bob:q")] == 0)
        #expect(program.strata[Language.table("nova:t")] == 0)
        #expect(program.strata[Language.table("carol:r")] == 1)
    }

    @Test func includesStoredTablesInStrataAndArities() throws {
        let stored = Language.table("nova:flavors")
        let program = try Language.check("h(x) :- p(x)", factArities: [stored: 3])
        #expect(program.strata[stored] == 0)
        #expect(program.arities[stored] == 3)
        #expect(program.arities[Language.table("alice:p")] == 1)
    }

    // MARK: - Errors

    @Test(arguments: [
        ("p(1, 2)\nh(x) :- p(x)", 2, 9),  // a fact and a rule disagree
        ("h(x) :- q(x)\nh(x, y) :- q(x), q(y)", 2, 1),  // two heads disagree
        ("p(1, 2)\np(3)", 2, 1),  // facts of two widths
        ("h(x) :- p(x)\nh(x) :- p(x, x)", 2, 9),  // two body uses disagree
    ])
    func reportsArityMismatches(_ text: String, _ line: Int, _ column: Int) {
        Language.expectError(text, .arityMismatch, line: line, column: column)
    }

    @Test func reportsArityMismatchesAgainstStoredRowsAndSchemas() {
        Language.expectError(
            "h(x) :- nova:servers(x)", .arityMismatch, line: 1, column: 9,
            factArities: [Language.table("nova:servers"): 2])
        Language.expectError(
            "h(x) :- nova:servers(x, y, z)", .arityMismatch, line: 1, column: 9,
            schemas: [Language.table("nova:servers"): ["id", "host"]])
        Language.expectError("p(1)", .arityMismatch, line: 1, column: 1, factArities: [Language.table("alice:p"): 2])
    }

    @Test func reportsArityMismatchesAcrossPolicies() {
        Language.expectError(
            ["alice": "h(x) :- bob:t(x)", "bob": "t(x, y) :- nova:s(x, y)"], .arityMismatch, line: 1, column: 1,
            policy: "bob")
    }

    @Test(arguments: [
        ("h(x, y) :- p(x)", 1, 6),  // head variable not bound
        ("q(x)", 1, 3),  // head variable with no body
        ("h(x) :- p(x), not q(x, y)", 1, 24),  // negated literal variable
        ("h(x) :- p(x), plus(y, 1, x)", 1, 20),  // builtin input
        ("h(x) :- p(x), x < y", 1, 19),  // comparison
        ("h(1) :- x = y", 1, 9),  // equality between two unbound variables
        ("h(x) :- p(x, y + 1)", 1, 14),  // variable only inside an expression argument
        ("h(x, _) :- p(x)", 1, 6),  // _ in a head
        ("h(x) :- p(x), lt(_, x)", 1, 18),  // _ as a builtin input
        ("h(x) :- p(x), not q(y + 1)", 1, 21),  // negated expression over an unbound variable
        ("h(x) :- p(x)\n\nk(1) :- not p(y)", 3, 15),  // negation only
    ])
    func reportsUnsafeVariables(_ text: String, _ line: Int, _ column: Int) {
        Language.expectError(text, .unsafeVariable, line: line, column: column)
    }

    @Test func reportsNegationThroughRecursion() {
        Language.expectError("p(x) :- q(x), not p(x)", .unstratifiedNegation, line: 1, column: 15)
        Language.expectError(
            """
            a(x) :- b(x)
            b(x) :- c(x)
            c(x) :- d(x), not a(x)
            """, .unstratifiedNegation, line: 3, column: 15)
    }

    /// Issue 14, case 6: the cycle on line 1 comes before the unsafe variable on
    /// line 2, although it is found by a later pass.
    @Test func reportsNegationThroughRecursionBeforeALaterUnsafeVariable() {
        Language.expectError("p(x) :- q(x), not p(x)\nh(y) :- q(x)", .unstratifiedNegation, line: 1, column: 15)
        Language.expectError("h(y) :- q(x)\np(x) :- q(x), not p(x)", .unsafeVariable, line: 1, column: 3)
    }

    /// Issue 14, case 6, and issue 10: both errors are reported, in line order.
    @Test func reportsEveryErrorInLineOrder() throws {
        let error = try #require(Language.error("p(x) :- q(x), not p(x)\nh(y) :- q(x)"))
        #expect(error.all.map(\.code) == [.unstratifiedNegation, .unsafeVariable], "\(error.all)")
        #expect(error.all.map { [$0.location?.line, $0.location?.column] } == [[1, 15], [2, 3]], "\(error.all)")
        #expect(error.others.allSatisfy { $0.others.isEmpty })
    }

    @Test func reportsAtMostTwentyErrors() throws {
        let text = (1...25).map { "h\($0)(y) :- q(x)" }.joined(separator: "\n")
        let error = try #require(Language.error(text))
        #expect(error.all.count == PolicyError.reportLimit)
        #expect(error.all.map { $0.location?.line ?? 0 } == Array(1...20), "\(error.all.map(\.description))")
    }

    @Test func reportsNegationThroughMutualRecursionAcrossPolicies() {
        Language.expectError(
            ["alice": "p(x) :- nova:t(x), not bob:q(x)", "bob": "q(x) :- alice:p(x)"], .unstratifiedNegation,
            line: 1, column: 20, policy: "alice")
    }

    @Test(arguments: [
        ("h(x) :- p(x), builtin:foo(x)", 1, 15),  // no such builtin
        ("h(z) :- p(x), plus(x, z)", 1, 15),  // too few arguments
        ("h(x) :- p(x), lt(x)", 1, 15),  // too few arguments to a comparison
        ("h(x) :- p(x), builtin:len(x, y, z)", 1, 15),  // too many arguments
    ])
    func reportsUnknownBuiltins(_ text: String, _ line: Int, _ column: Int) {
        Language.expectError(text, .unknownBuiltin, line: line, column: column)
    }

    @Test func reportsUnknownColumns() {
        let schemas = [Language.table("nova:servers"): ["id", "host"]]
        Language.expectError("h(x) :- nova:servers(id=x)", .unknownColumn, line: 1, column: 22)
        Language.expectError(#"h(x) :- nova:servers(id=x, name="a")"#, .unknownColumn, line: 1, column: 28, schemas: schemas)
        Language.expectError("h(x) :- nova:servers(id=x, id=y)", .unknownColumn, line: 1, column: 28, schemas: schemas)
        Language.expectError("h(z) :- p(x), plus(a=x, b=1, c=z)", .unknownColumn, line: 1, column: 20)
    }

    @Test(arguments: [
        (#"h(y) :- p(x), y = "a" + 1"#, 1, 19),  // arithmetic on a string constant
        ("h(x) :- p(x), len(3, x)", 1, 19),  // len of a number
        ("h(y) :- p(x), y = x / 0", 1, 21),  // division by zero
        (#"h(x + "a") :- p(x)"#, 1, 7),  // arithmetic on a string in a head
        ("h(y) :- p(x), concat(x, 1, y)", 1, 25),  // concat of a number
        (#"h(x) :- p(x), plus(x, 1, "two")"#, 1, 26),  // a number builtin never yields a string
        (#"h(x) :- p(x), q(x * "b")"#, 1, 21),  // inside a literal's argument
    ])
    func reportsStaticTypeErrors(_ text: String, _ line: Int, _ column: Int) {
        Language.expectError(text, .typeError, line: line, column: column)
    }

    @Test func reportsTheFirstErrorByPolicyLineAndColumn() {
        Language.expectError("h(x, y) :- p(x)\nq(x) :- builtin:foo(x)", .unsafeVariable, line: 1, column: 6)
        Language.expectError("q(x) :- p(x), builtin:foo(x)\nh(x, y) :- p(x)", .unknownBuiltin, line: 1, column: 15)
        Language.expectError(
            ["alice": "\n\n\nh(x, y) :- p(x)", "bob": "q(x) :- p(x), builtin:foo(x)"], .unsafeVariable, line: 4, column: 6,
            policy: "alice")
    }

    @Test func aRejectedProgramDoesNotChangeTheChecker() throws {
        let checker = ProgramChecker(policies: ["alice"])
        let bad = try Language.parse("p(x) :- q(x), not p(x)").rules
        #expect(throws: PolicyError.self) { try checker.check(bad) }
        let good = try Language.parse("p(x) :- q(x)").rules
        #expect(try checker.check(good).rules.count == 1)
    }

    // MARK: - Queries

    private let program: CheckedProgram = try! Language.check(
        "error(vm) :- nova:servers(vm, host, _), not allowed(host)\nallowed(\"h\")",
        schemas: [TableID("nova:servers")!: ["id", "host", "status"]])
    private let checker = ProgramChecker(
        policies: ["alice"], schemas: [TableID("nova:servers")!: ["id", "host", "status"]])

    private func query(_ text: String) throws(PolicyError) -> CheckedQuery {
        try checker.checkQuery(try PolicyParser.parseQuery(text, defaultPolicy: "alice"), program: program)
    }

    @Test func checksQueries() throws {
        let error = try query("alice:error(x)")
        #expect(error.table == Language.table("alice:error"))
        #expect(error.patterns == [.variable(0)])
        #expect(error.variableNames == ["x"])

        let bare = try query("nova:servers")
        #expect(bare.patterns == [.wildcard, .wildcard, .wildcard])

        let named = try query(#"nova:servers(id=x, status="ACTIVE")"#)
        #expect(named.patterns == [.variable(0), .wildcard, .constant(.string("ACTIVE"))])

        let unqualified = try query(#"allowed("h")"#)
        #expect(unqualified.table == Language.table("alice:allowed"))
        #expect(unqualified.patterns == [.constant(.string("h"))])

        let repeated = try query("nova:servers(x, x, _)")
        #expect(repeated.patterns == [.variable(0), .variable(0), .wildcard])
    }

    @Test func reportsQueryErrors() throws {
        #expect(throws: PolicyError.self) { try query("alice:nothing(x)") }
        do {
            _ = try query("alice:error(x, y)")
            Issue.record("accepted a query of the wrong width")
        } catch {
            #expect(error.code == .arityMismatch)
        }
        do {
            _ = try query("alice:nothing")
            Issue.record("accepted an unknown table")
        } catch {
            #expect(error.code == .unknownTable)
        }
        do {
            _ = try PolicyParser.parseQuery("error(x)", defaultPolicy: nil)
            Issue.record("accepted an unqualified query without a default policy")
        } catch {
            #expect(error.code == .syntaxError)
        }
        do {
            _ = try PolicyParser.parseQuery("alice:error(x + 1)", defaultPolicy: nil)
            Issue.record("accepted arithmetic in a query")
        } catch {
            #expect(error.code == .syntaxError)
            #expect(error.location?.column == 15)
        }
    }
}

extension BodyLiteral {
    fileprivate var isFunction: Bool {
        if case .function = self { return true }
        return false
    }
}
