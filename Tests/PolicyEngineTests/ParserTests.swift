@testable import PolicyEngine
import Testing

@Suite struct ParserTests {
    // MARK: - Statements

    @Test func readsRulesAndFacts() throws {
        let parsed = try Language.parse(
            """
            error(vm) :- nova:servers(vm, host), not allowed(host)
            allowed("h1")
            p(1, "a", 2.5)
            """)
        #expect(parsed.rules.map(\.text) == ["error(vm) :- nova:servers(vm, host), not allowed(host)"])
        #expect(parsed.facts.map(\.table) == [Language.table("alice:allowed"), Language.table("alice:p")])
        #expect(parsed.facts[1].values == [.int(1), .string("a"), .float(2.5)])
        #expect(parsed.facts[1].location.line == 3)
        #expect(parsed.facts[1].location.column == 1)
        #expect(parsed.rules[0].location == PolicyEngine.SourceLocation(policy: "alice", line: 1, column: 1))
    }

    @Test(arguments: [
        "p(1). q(x) :- p(x).",
        "p(1); q(x) :- p(x);",
        "p(1)\nq(x) :- p(x)",
        "p(1).\nq(x) :- p(x);",
    ])
    func terminatorsAreOptional(_ text: String) throws {
        let parsed = try Language.parse(text)
        #expect(parsed.facts.map(\.values) == [[.int(1)]])
        #expect(parsed.rules.map(\.text) == ["q(x) :- p(x)"])
    }

    @Test func skipsBothKindsOfComment() throws {
        let parsed = try Language.parse(
            """
            // a comment
            # another comment
            p(1)  // trailing
            q(2)  # trailing
            """)
        #expect(parsed.facts.map(\.values) == [[.int(1)], [.int(2)]])
    }

    @Test(arguments: ["h(x) :- p(x), not q(x)", "h(x) :- p(x), NOT q(x)", "h(x) :- p(x), !q(x)", "h(x):-p(x),! q(x)"])
    func readsEveryNegation(_ text: String) throws {
        let rule = try #require(try Language.parse(text).rules.first)
        guard case .negative(let atom, _) = rule.body[1] else {
            Issue.record("not a negation: \(rule.body[1])")
            return
        }
        #expect(atom.name == "q")
        #expect(rule.text == "h(x) :- p(x), not q(x)")
    }

    @Test func allowsWhitespaceBetweenAnyTokens() throws {
        let parsed = try Language.parse(
            """
            h ( x )
              :-
              nova : servers ( x ,
                 y ) ,
              not q
              (y) .
            """)
        #expect(parsed.rules.map(\.text) == ["h(x) :- nova:servers(x, y), not q(y)"])
    }

    @Test func sameRuleWrittenDifferentlyHasTheSameText() throws {
        let a = try Language.parse("error(vm):-nova:servers(vm,host),!allowed(host).").rules[0]
        let b = try Language.parse("error( vm )  :-  nova:servers (vm, host) ,\n NOT allowed(host) ;").rules[0]
        let c = try Language.parse("alice:error(vm) :- nova:servers(vm, host), not alice:allowed(host)").rules[0]
        #expect(a.text == "error(vm) :- nova:servers(vm, host), not allowed(host)")
        #expect(b.text == a.text)
        #expect(c.text == a.text)
    }

    @Test func readsZeroArityTables() throws {
        let parsed = try Language.parse("ready :- up, not down()\nup")
        #expect(parsed.rules.map(\.text) == ["ready :- up, not down"])
        #expect(parsed.facts.map(\.table) == [Language.table("alice:up")])
        #expect(parsed.facts[0].values.isEmpty)
    }

    // MARK: - Values and variables

    @Test func readsEveryKindOfValue() throws {
        let parsed = try Language.parse(
            #"""
            v(0, -7, 9223372036854775807, -9223372036854775808)
            v(2.5, -0.5, 1e3, 2.5E-2)
            v("plain", "q\"uote", "back\\slash", "n\nt\tr\r", "\u0041\u00e9")
            v(6, "6")
            """#)
        #expect(parsed.facts[0].values == [.int(0), .int(-7), .int(.max), .int(.min)])
        #expect(parsed.facts[1].values == [.float(2.5), .float(-0.5), .float(1000), .float(0.025)])
        #expect(parsed.facts[2].values == [.string("plain"), .string("q\"uote"), .string("back\\slash"), .string("n\nt\tr\r"), .string("Aé")])
        #expect(parsed.facts[3].values == [.int(6), .string("6")])
        #expect(parsed.facts[3].values[0] != parsed.facts[3].values[1])
    }

    @Test func variablesAreIdentifiersInAnyCase() throws {
        let rule = try Language.parse("h(VM, Host_2, x) :- p(VM, Host_2, x)").rules[0]
        let terms = rule.head.arguments.map(\.term.text)
        #expect(terms == ["VM", "Host_2", "x"])
        guard case .variable("VM", _) = rule.head.arguments[0].term else {
            Issue.record("VM is not a variable")
            return
        }
    }

    @Test func underscoreIsAnonymous() throws {
        let rule = try Language.parse("h(x) :- p(x, _), not banned(x, _)").rules[0]
        guard case .positive(let atom) = rule.body[0], case .anonymous = atom.arguments[1].term else {
            Issue.record("_ is not anonymous")
            return
        }
        #expect(rule.text == "h(x) :- p(x, _), not banned(x, _)")
    }

    // MARK: - Tables, named columns, builtins and arithmetic

    @Test func readsQualifiedAndNamedColumnReferences() throws {
        let rule = try Language.parse(#"h(x) :- nova:servers(id=x, status="ACTIVE"), bob:t(x)"#).rules[0]
        guard case .positive(let servers) = rule.body[0], case .positive(let bob) = rule.body[1] else {
            Issue.record("unexpected body \(rule.body)")
            return
        }
        #expect(servers.service == "nova")
        #expect(servers.arguments.map(\.column) == ["id", "status"])
        #expect(bob.service == "bob")
        #expect(rule.text == #"h(x) :- nova:servers(id=x, status="ACTIVE"), bob:t(x)"#)
    }

    @Test func readsServiceNamesWithDashesButKeepsSubtraction() throws {
        let rule = try Language.parse("h(x, y) :- neutron-v2:ports(x, z), y = z-1").rules[0]
        guard case .positive(let ports) = rule.body[0], case .comparison(.equal, _, let right, _) = rule.body[1] else {
            Issue.record("unexpected body \(rule.body)")
            return
        }
        #expect(ports.service == "neutron-v2")
        #expect(right.text == "z - 1")
    }

    @Test func readsInfixComparisons() throws {
        let rule = try Language.parse("h(x) :- p(x, y), x < y, x <= y, x > 1, x >= 2, x = y, x != 3").rules[0]
        let operators = rule.body.dropFirst().compactMap { literal -> ComparisonOperator? in
            if case .comparison(let op, _, _, _) = literal { return op }
            return nil
        }
        #expect(operators == [.less, .lessOrEqual, .greater, .greaterOrEqual, .equal, .notEqual])
        #expect(rule.text == "h(x) :- p(x, y), x < y, x <= y, x > 1, x >= 2, x = y, x != 3")
    }

    @Test func readsBuiltinsBareAndQualified() throws {
        let rule = try Language.parse("h(z) :- p(x, y), plus(x, y, z), builtin:lt(x, z)").rules[0]
        #expect(rule.text == "h(z) :- p(x, y), plus(x, y, z), builtin:lt(x, z)")
    }

    @Test(arguments: [
        ("next(x, y + 1) :- cur(x, y)", "next(x, y + 1) :- cur(x, y)"),
        ("h(x) :- p(x, y), q(x, (y + 1) * 2)", "h(x) :- p(x, y), q(x, (y + 1) * 2)"),
        ("h(a - (b - c)) :- p(a, b, c)", "h(a - (b - c)) :- p(a, b, c)"),
        ("h((a - b) - c) :- p(a, b, c)", "h(a - b - c) :- p(a, b, c)"),
        ("h(a + b * c / 2) :- p(a, b, c)", "h(a + b * c / 2) :- p(a, b, c)"),
        ("h(-x) :- p(x)", "h(0 - x) :- p(x)"),
        ("h(x - -1) :- p(x)", "h(x - -1) :- p(x)"),
    ])
    func readsArithmeticWithPrecedence(_ text: String, _ canonical: String) throws {
        let rule = try Language.parse(text).rules[0]
        #expect(rule.text == canonical)
        // The canonical text reads back as the same rule.
        let again = try Language.parse(rule.text).rules[0]
        #expect(again.text == canonical)
        #expect(again.head.arguments.map(\.term.text) == rule.head.arguments.map(\.term.text))
    }

    @Test func multiplicationBindsTighterThanAddition() throws {
        let rule = try Language.parse("h(a + b * c) :- p(a, b, c)").rules[0]
        guard case .arithmetic(.add, _, .arithmetic(.multiply, _, _, _), _) = rule.head.arguments[0].term else {
            Issue.record("wrong tree: \(rule.head.arguments[0].term)")
            return
        }
    }

    @Test func bodylessStatementWithVariablesOrArithmeticIsARule() throws {
        let parsed = try Language.parse("p(1 + 2)\nq(x)")
        #expect(parsed.facts.isEmpty)
        #expect(parsed.rules.map(\.text) == ["p(1 + 2)", "q(x)"])
        #expect(parsed.rules.allSatisfy { $0.body.isEmpty })
    }

    // MARK: - Syntax errors

    @Test(arguments: [
        ("p(1", 1, 4),  // missing )
        ("p(1,)", 1, 5),  // missing argument
        ("h(x) :- p(x) q(x)", 1, 14),  // missing comma
        ("h(x) :-", 1, 8),  // empty body
        ("h(x) :- p(x),", 1, 14),  // dangling comma
        ("p(\"abc)", 1, 3),  // unterminated string
        (#"p("a\qb")"#, 1, 5),  // unknown escape
        (#"p("\u00g0")"#, 1, 4),  // bad \u escape
        ("p(1) @", 1, 6),  // unexpected character
        ("p(99999999999999999999)", 1, 3),  // integer out of range
        ("p(x) :- q(x)\n  r(x = 1) :- q(x)", 2, 5),  // named column in a head
        ("h(x) :- p(x), not x < 1", 1, 21),  // negated comparison
        ("h(x) :- p(x), x < 1 < 2", 1, 21),  // chained comparison
        ("h(x) :- p(x), q(x) = 1", 1, 20),  // comparing a table literal
        ("bob:h(x) :- p(x)", 1, 1),  // defining another policy's table
        ("h(x) :- p(x), 1", 1, 16),  // a value is not a literal
        ("(x) :- p(x)", 1, 1),  // no head name
        ("h(x) :- p(x)\n\n   :- q(x)", 3, 4),  // a body with no head
        ("h :- p, not", 1, 12),  // `not` is a keyword, never a table with no columns
        ("h :- p, not\nq :- r", 2, 3),  // ... so it negates the table on the next line
        ("not(x) :- p(x)", 1, 1),  // ... nor a table with columns
        ("h(x) :- p(x), alice:not(x)", 1, 15),
    ])
    func reportsSyntaxErrorsWithLineAndColumn(_ text: String, _ line: Int, _ column: Int) {
        Language.expectError(text, .syntaxError, line: line, column: column)
    }

    /// After a syntax error the parser goes on with the next statement, so a
    /// text reports all its syntax errors, and the statements around them parse.
    @Test func reportsEverySyntaxErrorAndKeepsTheRest() throws {
        let text = """
            a(x) :- q(x) r(x)
            ok(1)
            b(x) :- q(x
            c(y) :- q(y)
            d(x) :- q(x))
            fine(1)
            """
        let (parsed, errors) = try PolicyParser.parseRecovering(text, policy: "alice")
        #expect(errors.map { [$0.location!.line, $0.location!.column] } == [[1, 14], [4, 1], [5, 13]], "\(errors)")
        #expect(errors.allSatisfy { $0.code == .syntaxError })
        #expect(parsed.facts.map(\.values) == [[.int(1)], [.int(1)]])
        #expect(parsed.rules.map(\.text) == ["c(y) :- q(y)"])
        let thrown = #expect(throws: PolicyError.self) { try PolicyParser.parse(text, policy: "alice") }
        #expect(thrown?.all == errors)
    }

    /// Text and checking errors of one insert come back together, in line order.
    @Test func anEngineReportsSyntaxAndCheckingErrorsTogether() throws {
        let engine = Engine()
        try engine.createPolicy("alice")
        var transaction = Transaction()
        transaction.insertRules("h(y) :- q(x)\np(x) :- q(x) r(x)\nn(x) :- q(x), not n(x)", policy: "alice")
        let error = #expect(throws: PolicyError.self) { try engine.apply(transaction) }
        #expect(error?.all.map(\.code) == [.unsafeVariable, .syntaxError, .unstratifiedNegation], "\(String(describing: error?.all))")
        #expect(try engine.rules(in: "alice").isEmpty)
    }
}
